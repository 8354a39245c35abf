"""The FCM HTTP v1 sender, on bridge's aiohttp session.

- The base URL is a setting (a stand-in in tests, a local sink in development).
- The OAuth access token comes from the service account through google-auth; its refresh (a
  blocking HTTP call) runs in a thread, and the token is cached until 5 minutes before it expires.
- 429 and 5xx are retried with exponential backoff that honours Retry-After; when the retries of
  one send are used up, or FCM cannot be reached at all, the outcome is `retry`: the worker puts
  the delivery back in the outbox for later instead of giving up.
- The token endpoint is called with a timeout; when it fails, `FcmUnavailable` says so (no send
  was attempted).
- UNREGISTERED tokens, and INVALID_ARGUMENT only when FCM says the *token* is invalid, are pruned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

import google.auth.transport.requests
from firebase_admin import credentials
from google.oauth2 import service_account

from bridge.infra.backoff import jittered
from bridge.infra.json_value import JsonObject
from bridge.infra.metrics import FCM_OAUTH_FAILURES
from bridge.infra.outbound import Answer, Outbound, UpstreamError

log = logging.getLogger("bridge.fcm")

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
REFRESH_MARGIN_SECONDS = 300
RETRYABLE = frozenset({0, 429, 500, 502, 503, 504})  # 0: no answer at all


class FcmUnavailable(Exception):
    """No send could be attempted: the OAuth access token could not be fetched."""


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with a timeout of ours (its default is 120 s)."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self._timeout = timeout_seconds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]


class AccessTokens:
    """OAuth access tokens for FCM, refreshed off the event loop and shared by all sends."""

    def __init__(
        self,
        service_account_key: credentials.Certificate,
        token_url: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        google_credentials: service_account.Credentials = service_account_key.get_credential()
        scoped = google_credentials.with_scopes([FCM_SCOPE])
        self._credentials = scoped.with_token_uri(token_url) if token_url else scoped
        self._timeout = timeout_seconds
        self._failed_at = -1.0
        self._failure = ""
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._valid_until = 0.0

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._valid_until:
            return self._token
        asked = time.monotonic()
        async with self._lock:
            if self._failed_at >= asked:
                # It failed while this caller waited: don't queue another fetch behind it.
                raise FcmUnavailable(self._failure)
            if self._token is None or time.monotonic() >= self._valid_until:
                try:
                    await asyncio.wait_for(
                        asyncio.to_thread(self._credentials.refresh, _TimedRequest(self._timeout)),
                        self._timeout + 1,
                    )
                except Exception as error:
                    # google-auth raises TransportError / RefreshError; their messages may quote
                    # the token endpoint's answer, so only the type is kept.
                    FCM_OAUTH_FAILURES.inc()
                    self._failed_at = time.monotonic()
                    self._failure = f"FCM OAuth token fetch failed: {type(error).__name__}"
                    raise FcmUnavailable(self._failure) from None
                expiry = self._credentials.expiry  # google-auth keeps it as naive UTC
                lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time() if expiry else 3600.0
                self._token = self._credentials.token
                self._valid_until = time.monotonic() + max(0.0, lifetime - REFRESH_MARGIN_SECONDS)
            assert self._token is not None
            return self._token


@dataclass(frozen=True, slots=True)
class SendOutcome:
    state: Literal["sent", "failed", "pruned", "retry", "abandoned"]
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


def messages_url(base_url: str, project_id: str) -> str:
    """FCM HTTP v1's send endpoint for a project."""
    return f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"


@dataclass(frozen=True, slots=True)
class FcmSender:
    outbound: Outbound
    url: str  # messages_url(…)
    tokens: AccessTokens
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 10.0

    async def send(
        self,
        message: JsonObject,
        token: str,
        *,
        dry_run: bool = False,
        still_held: Callable[[], bool] | None = None,
    ) -> SendOutcome:
        """Send, retrying 429/5xx/no answer. `still_held` is asked before every retry: when it
        says no (the worker lost the delivery's lease meanwhile), the send is `abandoned`."""
        body: JsonObject = {"message": {**message, "token": token}}
        if dry_run:
            body["validate_only"] = True
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1 and still_held is not None and not still_held():
                return SendOutcome("abandoned", error="LEASE_LOST", attempts=attempt - 1)
            reply = await self._post(body)
            status = reply.status
            if status == 200 and isinstance(reply.document, dict):
                return SendOutcome("sent", message_id=reply.document.get("name"), attempts=attempt)
            code, names_token = _error_code(reply.document)
            if status == 404 or code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and names_token):
                return SendOutcome("pruned", error=code, attempts=attempt)
            if status not in RETRYABLE:
                return SendOutcome("failed", error=code, attempts=attempt)
            if attempt == self.max_attempts:
                return SendOutcome("retry", error=code if status else "UNREACHABLE", attempts=attempt)
            await asyncio.sleep(self._delay(attempt, reply.headers))
        raise AssertionError("unreachable")

    async def _post(self, body: JsonObject) -> Answer:
        """FCM's answer; status 0 when none came."""
        headers = {"Authorization": f"Bearer {await self.tokens.token()}"}
        try:
            return await self.outbound.send(
                "POST", self.url, json=body, headers=headers, timeout_seconds=self.timeout_seconds
            )
        except UpstreamError as error:
            # Logged once per outage by the worker (it marks itself failing), not once per request.
            log.debug("fcm request failed", extra={"error": str(error)})
            return Answer(0, None, {})

    def _delay(self, attempt: int, headers: Mapping[str, str]) -> float:
        retry_after = headers.get("Retry-After")
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_backoff_seconds)
        return jittered(self.backoff_seconds, attempt, self.max_backoff_seconds)
