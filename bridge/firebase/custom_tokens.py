"""Firebase custom tokens, signed with the service account off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from firebase_admin import credentials
from google.auth import jwt as google_jwt

from bridge.infra.json_value import JsonObject
from bridge.infra.metrics import CUSTOM_TOKENS

FIREBASE_AUDIENCE = (
    "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit"
)
CUSTOM_TOKEN_LIFETIME_SECONDS = 3600


class CustomTokenMinter:
    """Builds the same RS256 custom token firebase-admin's `create_custom_token` does, with the
    service account's signer, in a thread pool (`cryptography` releases the GIL while signing).

    firebase-admin itself switches to unsigned tokens whenever FIREBASE_AUTH_EMULATOR_HOST is
    set; bridge always signs, so what it returns locally is what production Firebase accepts.
    """

    def __init__(self, service_account: credentials.Certificate, executor: Executor) -> None:
        self._signer = service_account.signer
        self.service_account_email: str = service_account.service_account_email
        self._executor = executor

    async def mint(
        self, uid: str, claims: Mapping[str, Any] | None = None, tenant_id: str | None = None
    ) -> str:
        if not 1 <= len(uid) <= 128:
            raise ValueError("uid must be 1 to 128 characters")
        now = int(time.time())
        payload: JsonObject = {
            "iss": self.service_account_email,
            "sub": self.service_account_email,
            "aud": FIREBASE_AUDIENCE,
            "uid": uid,
            "iat": now,
            "exp": now + CUSTOM_TOKEN_LIFETIME_SECONDS,
        }
        if tenant_id:
            payload["tenant_id"] = tenant_id
        if claims:
            payload["claims"] = dict(claims)
        loop = asyncio.get_running_loop()
        token = await loop.run_in_executor(self._executor, self._sign, payload)
        CUSTOM_TOKENS.inc()
        return token

    def _sign(self, payload: JsonObject) -> str:
        signed: bytes = google_jwt.encode(self._signer, payload)  # type: ignore[no-untyped-call]
        return signed.decode("ascii")
