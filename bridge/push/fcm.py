"""The FCM HTTP v1 sender, on bridge's aiohttp session.

- The base URL is a setting (a stand-in in tests, a local sink in development).
- The OAuth access token comes from the service account through google-auth; its refresh (a
  blocking HTTP call) runs in a thread, and the token is cached until 5 minutes before it expires.
- 429 and 5xx are retried with exponential backoff that honours Retry-After.
- UNREGISTERED tokens, and INVALID_ARGUMENT only when FCM says the *token* is invalid, are pruned.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

import google.auth.transport.requests
from firebase_admin import credentials
from google.oauth2 import service_account

from bridge.outbound import Outbound, UpstreamError

log = logging.getLogger("bridge.fcm")

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
REFRESH_MARGIN_SECONDS = 300
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})  # 0: no answer at all


class AccessTokens:
    """OAuth access tokens for FCM, refreshed off the event loop and shared by all sends."""

    def __init__(self, service_account_key: credentials.Certificate, token_url: str | None = None) -> None:
        google_credentials: service_account.Credentials = service_account_key.get_credential()
        scoped = google_credentials.with_scopes([FCM_SCOPE])
        self._credentials = scoped.with_token_uri(token_url) if token_url else scoped
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._valid_until = 0.0

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._valid_until:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._valid_until:
                await asyncio.to_thread(self._credentials.refresh, google.auth.transport.requests.Request())
                expiry = self._credentials.expiry  # google-auth keeps it as naive UTC
                lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time() if expiry else 3600.0
                self._token = self._credentials.token
                self._valid_until = time.monotonic() + max(0.0, lifetime - REFRESH_MARGIN_SECONDS)
            assert self._token is not None
            return self._token


@dataclass(frozen=True, slots=True)
class SendOutcome:
    state: Literal["sent", "failed", "pruned"]
    error: str | None = None
    message_id: str | None = None
    attempts: int = 1


def _error_code(answer: Any) -> tuple[str, bool]:
    """(FCM error code, whether the error names the registration token)."""
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    code = str(error.get("status") or "UNKNOWN")
    names_token = False
    for detail in error.get("details", []) or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type", "").endswith("FcmError") and detail.get("errorCode"):
            code = str(detail["errorCode"])
        for violation in detail.get("fieldViolations", []) or []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                names_token = True
    message = str(error.get("message", "")).lower()
    if "registration token" in message and "not a valid" in message:
        names_token = True
    return code, names_token


class FcmSender:
    def __init__(
        self,
        outbound: Outbound,
        base_url: str,
        project_id: str,
        tokens: AccessTokens,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._outbound = outbound
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._tokens = tokens
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout_seconds

    async def send(self, message: dict[str, Any], token: str, *, dry_run: bool = False) -> SendOutcome:
        body: dict[str, Any] = {"message": {**message, "token": token}}
        if dry_run:
            body["validate_only"] = True
        for attempt in range(1, self._max_attempts + 1):
            status, answer, headers = await self._post(body)
            if status == 200 and isinstance(answer, dict):
                return SendOutcome("sent", message_id=answer.get("name"), attempts=attempt)
            code, names_token = _error_code(answer)
            if status == 404 or code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and names_token):
                return SendOutcome("pruned", error=code, attempts=attempt)
            if status not in RETRYABLE or attempt == self._max_attempts:
                return SendOutcome("failed", error=code if status else "UNREACHABLE", attempts=attempt)
            await asyncio.sleep(self._delay(attempt, headers))
        raise AssertionError("unreachable")

    async def _post(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str] | Any]:
        headers = {"Authorization": f"Bearer {await self._tokens.token()}"}
        try:
            return await self._outbound.request_json(
                "POST", self._url, body, headers=headers, timeout_seconds=self._timeout
            )
        except UpstreamError as error:
            log.warning("fcm request failed", extra={"error": str(error)})
            return 0, None, {}

    def _delay(self, attempt: int, headers: Any) -> float:
        retry_after = headers.get("Retry-After") if headers else None
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self._max_backoff)
        exponential = self._backoff * 2 ** (attempt - 1)
        return float(min(exponential * (0.5 + random.random() / 2), self._max_backoff))  # noqa: S311
