"""A stand-in for FCM HTTP v1 (and Google's OAuth token endpoint) on loopback, for tests only.

It records every request with its headers. What it answers depends on the registration token:
- `dead-…`   404 UNREGISTERED
- `bad-…`    400 INVALID_ARGUMENT naming message.token
- `huge-…`   400 INVALID_ARGUMENT about the payload (not the token)
- `other-…`  403 SENDER_ID_MISMATCH
- `busy-…`   429 with Retry-After: 1, the first time for that token
- `flaky-…`  503, the first time for that token
- anything else: 200 {"name": "projects/P/messages/<n>"}
`delay` slows every answer down.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "status": code, "details": details or []}},
        status=status,
    )


def _fcm_error(code: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}


@dataclass
class FcmStandIn:
    base_url: str = ""
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    in_flight: int = 0  # send requests received and not answered yet
    _seen: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        app.router.add_post("/token", self._token)
        return app

    def sent_tokens(self) -> list[str]:
        return [r["body"]["message"]["token"] for r in self.requests if r["status"] == 200]

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        return web.json_response(
            {
                "access_token": f"ya29.standin-{self.token_requests}",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        )

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = body["message"]["token"]
        self._seen[token] += 1
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        response = self._answer(request.match_info["project"], token, self._seen[token])
        self.requests.append(
            {
                "project": request.match_info["project"],
                "body": body,
                "status": response.status,
                "headers": dict(request.headers),
            }
        )
        return response

    def _answer(self, project: str, token: str, seen: int) -> web.Response:
        if token.startswith("dead-"):
            return _error(404, "NOT_FOUND", "Requested entity was not found.", [_fcm_error("UNREGISTERED")])
        if token.startswith("bad-"):
            return _error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                [
                    _fcm_error("INVALID_ARGUMENT"),
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.token", "description": "Invalid token"}],
                    },
                ],
            )
        if token.startswith("huge-"):
            return _error(400, "INVALID_ARGUMENT", "Message is too big", [_fcm_error("INVALID_ARGUMENT")])
        if token.startswith("other-"):
            return _error(403, "PERMISSION_DENIED", "SenderId mismatch", [_fcm_error("SENDER_ID_MISMATCH")])
        if token.startswith("busy-") and seen == 1:
            response = _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", [_fcm_error("QUOTA_EXCEEDED")])
            response.headers["Retry-After"] = "1"
            return response
        if token.startswith("flaky-") and seen == 1:
            return _error(
                503, "UNAVAILABLE", "The service is currently unavailable.", [_fcm_error("UNAVAILABLE")]
            )
        return web.json_response({"name": f"projects/{project}/messages/{next(self._ids)}"})
