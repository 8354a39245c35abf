"""Firebase sessions over the Identity Toolkit / Secure Token REST APIs (the emulator's or Google's):
custom token → ID token + refresh token, and refresh."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bridge.identity import unverified_text_claim
from bridge.infra.json_value import JsonObject
from bridge.infra.metrics import SESSIONS
from bridge.infra.outbound import Answer, Outbound, UpstreamError

TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Session:
    id_token: str
    refresh_token: str
    expires_in: int
    uid: str | None

    def as_json(self) -> JsonObject:
        return asdict(self)


class SessionRejected(Exception):
    """Google refused the token (e.g. INVALID_CUSTOM_TOKEN, TOKEN_EXPIRED, USER_DISABLED)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class SessionsUnavailable(Exception):
    """The session API is not configured, down or answered something unusable."""


class SessionsNotConfigured(SessionsUnavailable):
    """No Web API key is configured (BRIDGE_FIREBASE_WEB_API_KEY)."""


class SessionApi:
    def __init__(
        self,
        outbound: Outbound,
        api_key: str | None,
        identity_toolkit_url: str,
        secure_token_url: str,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._outbound = outbound
        self._timeout = timeout_seconds
        self._api_key = api_key
        self._identity_toolkit_url = identity_toolkit_url
        self._secure_token_url = secure_token_url

    @property
    def configured(self) -> bool:
        return bool(self._api_key)

    async def sign_in(self, custom_token: str, tenant_id: str | None = None) -> Session:
        body: dict[str, Any] = {"token": custom_token, "returnSecureToken": True}
        if tenant_id:
            body["tenantId"] = tenant_id
        url = f"{self._identity_toolkit_url}/v1/accounts:signInWithCustomToken?key={self._key()}"
        try:
            reply = await self._outbound.send("POST", url, json=body, timeout_seconds=self._timeout)
        except UpstreamError as error:
            raise SessionsUnavailable(str(error)) from None
        answer = _checked(reply, "sign_in")
        id_token = _text(answer, "idToken")
        return Session(
            id_token=id_token,
            refresh_token=_text(answer, "refreshToken"),
            expires_in=int(answer.get("expiresIn", 3600)),
            uid=answer.get("localId") or _subject(id_token),
        )

    async def refresh(self, refresh_token: str) -> Session:
        url = f"{self._secure_token_url}/v1/token?key={self._key()}"
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        try:
            reply = await self._outbound.send("POST", url, form=form, timeout_seconds=self._timeout)
        except UpstreamError as error:
            raise SessionsUnavailable(str(error)) from None
        answer = _checked(reply, "refresh")
        return Session(
            id_token=_text(answer, "id_token"),
            refresh_token=_text(answer, "refresh_token"),
            expires_in=int(answer.get("expires_in", 3600)),
            uid=answer.get("user_id"),
        )

    def _key(self) -> str:
        if not self._api_key:
            raise SessionsNotConfigured("sessions need BRIDGE_FIREBASE_WEB_API_KEY")
        return self._api_key


def _checked(reply: Answer, operation: str) -> dict[str, Any]:
    status, answer = reply.status, reply.document
    if status == 200 and isinstance(answer, dict):
        SESSIONS.labels(operation, "ok").inc()
        return answer
    SESSIONS.labels(operation, "refused" if 400 <= status < 500 else "error").inc()
    if 400 <= status < 500 and isinstance(answer, dict):
        message = str((answer.get("error") or {}).get("message", "UNKNOWN"))
        raise SessionRejected(message.split(":", 1)[0].strip() or "UNKNOWN")
    raise SessionsUnavailable(f"the session API answered {status}")


def _subject(id_token: str) -> str | None:
    """The uid in an ID token just received from the session API over TLS (read, not verified:
    whoever uses the ID token verifies it)."""
    return unverified_text_claim(id_token, "sub")


def _text(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise SessionsUnavailable(f"the session API answer has no {name}")
    return value
