"""Partner JWTs: HS* shared secrets, PEM public keys, JWKS URLs and OIDC providers."""

from __future__ import annotations

import math
import time
from typing import Any, Protocol

import jwt

from bridge.identity import ExternalIdentity, claim_value, normalised_email
from bridge.partners.base import (
    Credential,
    CredentialExpired,
    CredentialRejected,
    KeysUnavailable,
    PartnerToken,
    WrongCredentialKind,
)
from bridge.partners.config import JwtRules
from bridge.partners.jwks import TrustedKey

MAX_EXTERNAL_ID_LENGTH = 1024
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256
MAX_JTI_LENGTH = 256
# exp/nbf/iat are JSON numbers (RFC 7519 NumericDate) and must name an instant a datetime can hold
# (before year 10000): `exp` = 10**12 would overflow where the expiry is stored (single-use tokens).
MAX_NUMERIC_DATE = 253402300799
TIME_CLAIMS = ("exp", "nbf", "iat")
KNOWN_ALGORITHMS = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "PS", "ES") for bits in ("256", "384", "512")
) | {"ES256K", "EdDSA", "none"}


# PyJWT errors whose text quotes the token (its header is the presenter's own text, read before
# any signature check): `Unsupported critical extension: <anything>`, `Critical extension '<x>'
# is missing`. Their reason names the rule, never the value.
_QUOTING_ERRORS = ("critical extension",)


def library_reason(error: jwt.PyJWTError) -> str:
    """A log-safe reason for a PyJWT error: its type, and its text unless that quotes the token."""
    text = str(error)
    if any(marker in text.lower() for marker in _QUOTING_ERRORS):
        text = "crit header names an extension that is not understood"
    return f"{type(error).__name__}: {text}"


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> TrustedKey:
        """The trusted key for a token's `kid` (only a lookup key), or CredentialRejected."""
        ...


class SingleKey:
    """One configured key (secret or PEM): every token is checked against it, whatever its kid."""

    def __init__(self, key: TrustedKey) -> None:
        self._key = key

    async def key_for(self, kid: str | None) -> TrustedKey:
        return self._key


class JwtVerifier:
    """Verifies one partner's JWTs.

    The token never chooses the key: `jku`, `x5u` and `jwk` headers are ignored, `kid` only selects
    among keys the partner's configuration already trusts, and `alg` must be in the allow-list of
    that key (its family, narrowed by the partner's `algorithms`).
    """

    def __init__(self, partner_id: str, rules: JwtRules, keys: KeySource) -> None:
        self._partner_id = partner_id
        self._rules = rules
        self._keys = keys
        self._audiences = rules.audiences()
        required = ["exp"]
        required += ["iss"] if rules.require_issuer else []
        required += ["aud"] if rules.require_audience else []
        if rules.max_token_age_seconds is not None:
            required.append("iat")
        if rules.single_use:
            required.append("jti")
        self._jwt = jwt.PyJWT(options={"require": required})

    async def verify(self, credential: Credential) -> ExternalIdentity:
        if not isinstance(credential, PartnerToken):
            raise WrongCredentialKind("this partner accepts a token")
        claims = await self.decode(credential.token)
        return self.identity_from(claims)

    async def decode(self, token: str) -> dict[str, Any]:
        if len(token) > self._rules.max_token_bytes:
            raise CredentialRejected(f"token is longer than {self._rules.max_token_bytes} bytes")
        if not token.isascii():  # a JWT is ASCII; other header bytes arrive as surrogates
            raise CredentialRejected("token is not ASCII")
        header = self._checked_header(token)
        key = await self._keys.key_for(header.get("kid") if isinstance(header.get("kid"), str) else None)
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                key.key,
                algorithms=sorted(key.algorithms),
                audience=self._audiences if self._rules.require_audience else None,
                issuer=self._rules.issuer if self._rules.require_issuer else None,
                leeway=self._rules.leeway_seconds,
                options={
                    "verify_aud": self._rules.require_audience,
                    "verify_iss": self._rules.require_issuer,
                },
            )
        except jwt.ExpiredSignatureError as error:
            raise CredentialExpired(library_reason(error)) from None
        except jwt.PyJWTError as error:
            raise CredentialRejected(library_reason(error)) from None
        except RecursionError:  # a signed payload nested past the JSON parser's depth
            raise CredentialRejected("payload is nested too deeply") from None
        _check_time_claims(claims)
        self._check_optional_iss_aud(claims)
        self._check_claim_rules(claims)
        return claims

    def _check_optional_iss_aud(self, claims: dict[str, Any]) -> None:
        """With require_issuer / require_audience = false a token may leave `iss` / `aud` out; one
        that carries them must still match what is configured."""
        rules = self._rules
        if not rules.require_issuer and "iss" in claims and claims["iss"] != rules.issuer:
            raise CredentialRejected("InvalidIssuerError: token has an unexpected iss")
        if not rules.require_audience and "aud" in claims:
            present = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            if not set(map(str, present)) & set(self._audiences):
                raise CredentialRejected("InvalidAudienceError: token has an unexpected aud")

    async def signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token whose signature verifies with this partner's key, even if it is
        expired or otherwise refused; None when the signature does not verify. Only for choosing
        where a failed browser login goes (never to accept a login)."""
        if len(token) > self._rules.max_token_bytes:
            return None
        try:
            header = self._checked_header(token)
            key = await self._keys.key_for(header.get("kid") if isinstance(header.get("kid"), str) else None)
            claims: dict[str, Any] = jwt.PyJWT().decode(
                token,
                key.key,
                algorithms=sorted(key.algorithms),
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.PyJWTError, CredentialRejected, KeysUnavailable):
            return None
        return claims

    def _checked_header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise CredentialRejected(library_reason(error)) from None
        except RecursionError:  # `[[[[…` in the header: json.loads gives up before anything else
            raise CredentialRejected("header is nested too deeply") from None
        if header.get("alg") not in self._rules.algorithms:
            # Only a known algorithm name is logged: the header is the presenter's text.
            named = header.get("alg") if header.get("alg") in KNOWN_ALGORITHMS else "(unknown)"
            raise CredentialRejected(f"algorithm {named!r} is not allowed")
        if "crit" in header:
            raise CredentialRejected("token has a crit header; no extension is understood")
        if self._rules.typ is not None and str(header.get("typ", "")).lower() != self._rules.typ.lower():
            raise CredentialRejected(f"header typ is not {self._rules.typ!r}")
        return header

    def _check_claim_rules(self, claims: dict[str, Any]) -> None:
        rules = self._rules
        if rules.max_token_age_seconds is not None:
            age = time.time() - float(claims["iat"])
            if age > rules.max_token_age_seconds + rules.leeway_seconds:
                raise CredentialRejected(f"token is older than {rules.max_token_age_seconds} s")
        for name, expected in rules.required_claims.items():
            value = claim_value(claims, name)
            allowed = expected if isinstance(expected, list) else [expected]
            if value is None or isinstance(value, dict | list) or not _one_of(value, allowed):
                raise CredentialRejected(f"required claim {name!r} does not match")
        if rules.single_use:
            jti = claims.get("jti")
            if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
                raise CredentialRejected("jti must be a non-empty string for single-use tokens")

    def identity_from(self, claims: dict[str, Any]) -> ExternalIdentity:
        rules = self._rules
        email = optional_text(claims, rules.email_claim, MAX_EMAIL_LENGTH)
        user_id = external_id(claims, rules.user_id_claim)
        id_is_email = rules.user_id_claim in (rules.email_claim, "email")
        if rules.require_email_verified and claims.get("email_verified") is not True:
            email_used = id_is_email or email is not None or rules.email_claim in rules.claims.values()
            if email_used:
                raise CredentialRejected("email_verified is not true")
        fold = rules.casefold_email_local_part
        return ExternalIdentity(
            partner=self._partner_id,
            external_id=normalised_email(user_id, fold) if id_is_email else user_id,
            email=normalised_email(email, fold) if email is not None else None,
            display_name=optional_text(claims, rules.name_claim, MAX_NAME_LENGTH),
            claims=claims,
        )


def _check_time_claims(claims: dict[str, Any]) -> None:
    """exp/nbf/iat must be finite JSON numbers within datetime's range, not numeric strings (PyJWT
    converts with int(), which would take "1900000000") nor booleans."""
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CredentialRejected(f"claim {name!r} is not a JSON number")
        if not (math.isfinite(value) and 0 <= value <= MAX_NUMERIC_DATE):
            raise CredentialRejected(f"claim {name!r} is out of range")


def _one_of(value: Any, allowed: list[Any]) -> bool:
    # bool is an int in Python: compare types too, so `true` never matches `1`.
    return any(type(value) is type(option) and value == option for option in allowed)


def external_id(claims: dict[str, Any], name: str) -> str:
    value = claim_value(claims, name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise CredentialRejected(f"user-id claim {name!r} is missing or not a string")
    if len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise CredentialRejected(f"user-id claim {name!r} is over {MAX_EXTERNAL_ID_LENGTH} chars")
    return value


def optional_text(claims: dict[str, Any], name: str | None, limit: int) -> str | None:
    value = claim_value(claims, name) if name else None
    if isinstance(value, str) and 0 < len(value) <= limit:
        return value
    return None
