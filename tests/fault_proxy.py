"""An HTTP reverse proxy in front of a real service that can be told to fail: after `allow` more
requests it answers 503, as an unreachable dependency would. Used to stop Firebase half-way through
an admin action. Test tooling only."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web


@dataclass
class FaultProxy:
    upstream: str  # http://host:port
    allow: int | None = None  # None: forward everything
    forwarded: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def _forward(self, request: web.Request) -> web.Response:
        if self.allow is not None and self.forwarded >= self.allow:
            return web.json_response(
                {"error": {"code": 503, "message": "UNAVAILABLE", "status": "UNAVAILABLE"}}, status=503
            )
        self.forwarded += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=await request.read(),
                headers=headers,
            ) as answer,
        ):
            body = await answer.read()
            return web.Response(
                status=answer.status, body=body, content_type=answer.content_type if body else None
            )
