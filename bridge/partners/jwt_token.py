"""Partner JWTs signed with a shared secret (HS*) or the partner's private key (RS*/PS*/ES*)."""

from __future__ import annotations

from typing import Any

import jwt

from bridge.identity import ExternalIdentity, claim_value
from bridge.partners.base import Credential, CredentialRejected, PartnerToken, WrongCredentialKind
from bridge.partners.config import JwtPartnerConfig
from bridge.partners.keys import VerificationKey

MAX_EXTERNAL_ID_LENGTH = 1024
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256


class JwtVerifier:
    """Verifies one partner's JWTs with the one key and the algorithms configured for it.

    The token never chooses the key: `jku`, `x5u`, `jwk` and `kid` headers are ignored, and the
    `alg` header must be in the partner's allow-list.
    """

    def __init__(self, partner_id: str, config: JwtPartnerConfig, key: VerificationKey) -> None:
        self._partner_id = partner_id
        self._config = config
        self._key = key
        self._audiences = config.audiences()
        self._jwt = jwt.PyJWT(options={"require": ["exp", "iss", "aud"]})

    async def verify(self, credential: Credential) -> ExternalIdentity:
        if not isinstance(credential, PartnerToken):
            raise WrongCredentialKind("this partner accepts a token")
        claims = self.decode(credential.token)
        return self.identity_from(claims)

    def decode(self, token: str) -> dict[str, Any]:
        if len(token) > self._config.max_token_bytes:
            raise CredentialRejected(f"token is longer than {self._config.max_token_bytes} bytes")
        try:
            decoded = self._jwt.decode_complete(
                token,
                self._key,
                algorithms=self._config.algorithms,
                audience=self._audiences,
                issuer=self._config.issuer,
                leeway=self._config.leeway_seconds,
            )
        except jwt.PyJWTError as error:
            raise CredentialRejected(f"{type(error).__name__}: {error}") from None
        if "crit" in decoded["header"]:
            raise CredentialRejected("token has a crit header; no extension is understood")
        claims: dict[str, Any] = decoded["payload"]
        return claims

    def identity_from(self, claims: dict[str, Any]) -> ExternalIdentity:
        return ExternalIdentity(
            partner=self._partner_id,
            external_id=self._external_id(claims),
            email=_optional_text(claims, self._config.email_claim, MAX_EMAIL_LENGTH),
            display_name=_optional_text(claims, self._config.name_claim, MAX_NAME_LENGTH),
            claims=claims,
        )

    def _external_id(self, claims: dict[str, Any]) -> str:
        name = self._config.user_id_claim
        value = claim_value(claims, name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise CredentialRejected(f"user-id claim {name!r} is missing or not a string")
        if len(value) > MAX_EXTERNAL_ID_LENGTH:
            raise CredentialRejected(f"user-id claim {name!r} is over {MAX_EXTERNAL_ID_LENGTH} chars")
        return value


def _optional_text(claims: dict[str, Any], name: str, limit: int) -> str | None:
    value = claim_value(claims, name)
    if isinstance(value, str) and 0 < len(value) <= limit:
        return value
    return None
