"""Partner JWTs: HS* shared secrets, PEM public keys, JWKS URLs and OIDC providers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import jwt
from jwt.types import FullOptions

from bridge.identity import ClaimRule, ExternalIdentity, unmatched_claim
from bridge.partners.base import (
    Credential,
    CredentialExpired,
    CredentialRejected,
    KeysUnavailable,
    PartnerToken,
    RejectReason,
    WrongCredentialKind,
)
from bridge.partners.claims import IdentityPaths, identity_from
from bridge.partners.jwks import TrustedKey

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


# PyJWT's error types by reason code; a subclass is looked up before its base (MRO order).
_LIBRARY_CODES: dict[type[jwt.PyJWTError], RejectReason] = {
    jwt.ImmatureSignatureError: RejectReason.NOT_YET_VALID,
    jwt.InvalidIssuerError: RejectReason.ISSUER,
    jwt.InvalidAudienceError: RejectReason.AUDIENCE,
    jwt.MissingRequiredClaimError: RejectReason.MISSING_CLAIM,
    jwt.InvalidIssuedAtError: RejectReason.CLAIMS,
    jwt.InvalidAlgorithmError: RejectReason.ALGORITHM,
    jwt.InvalidSignatureError: RejectReason.SIGNATURE,
    jwt.DecodeError: RejectReason.MALFORMED,
}


def library_rejection(error: jwt.PyJWTError) -> CredentialRejected:
    """The refusal for a PyJWT error: a reason code by its type, and a log-safe text (its type, and
    its message unless that quotes the token)."""
    text = str(error)
    if any(marker in text.lower() for marker in _QUOTING_ERRORS):
        text = "crit header names an extension that is not understood"
        return CredentialRejected(f"{type(error).__name__}: {text}", RejectReason.HEADER)
    detail = f"{type(error).__name__}: {text}"
    if isinstance(error, jwt.ExpiredSignatureError):
        return CredentialExpired(detail)
    code = next(
        (_LIBRARY_CODES[kind] for kind in type(error).__mro__ if kind in _LIBRARY_CODES), RejectReason.INVALID
    )
    return CredentialRejected(detail, code)


class TokenRules(Protocol):
    """What the verifier reads of a token partner's settings (see config.JwtRules)."""

    @property
    def algorithms(self) -> list[str]: ...
    @property
    def issuer(self) -> str | None: ...
    def audiences(self) -> list[str]: ...
    @property
    def require_issuer(self) -> bool: ...
    @property
    def require_audience(self) -> bool: ...
    @property
    def leeway_seconds(self) -> int: ...
    @property
    def max_token_bytes(self) -> int: ...
    @property
    def max_token_age_seconds(self) -> int | None: ...
    @property
    def typ(self) -> str | None: ...
    @property
    def required_claims(self) -> Mapping[str, ClaimRule]: ...
    @property
    def single_use(self) -> bool: ...
    @property
    def require_email_verified(self) -> bool: ...
    @property
    def email_claim(self) -> str: ...
    @property
    def claims(self) -> Mapping[str, str]: ...
    @property
    def identity_paths(self) -> IdentityPaths: ...


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


class _ClockedJwt(jwt.PyJWT):
    """PyJWT reading `now` from an injected clock instead of the wall clock.

    PyJWT has no public hook for its clock, so this runs its own iat/nbf/exp validators, in its own
    order and with its own errors, against `clock()`, then lets it check the rest (iss, aud, …).
    """

    def __init__(self, clock: Callable[[], float], options: dict[str, Any]) -> None:
        super().__init__(options=options)  # type: ignore[arg-type]
        self._clock = clock

    def _validate_claims(
        self,
        payload: dict[str, Any],
        options: FullOptions,
        audience: Iterable[str] | str | None = None,
        issuer: Any = None,
        subject: str | None = None,
        leeway: float | timedelta = 0,
    ) -> None:
        seconds = leeway.total_seconds() if isinstance(leeway, timedelta) else leeway
        self._validate_required_claims(payload, options["require"])
        now = self._clock()
        for claim, validate in (
            ("iat", self._validate_iat),
            ("nbf", self._validate_nbf),
            ("exp", self._validate_exp),
        ):
            if claim in payload and options[f"verify_{claim}"]:  # type: ignore[literal-required]
                validate(payload, now, seconds)
        untimed: FullOptions = {**options, "verify_iat": False, "verify_nbf": False, "verify_exp": False}
        super()._validate_claims(payload, untimed, audience, issuer, subject, leeway)


class JwtVerifier:
    """Verifies one partner's JWTs.

    The token never chooses the key: `jku`, `x5u` and `jwk` headers are ignored, `kid` only selects
    among keys the partner's configuration already trusts, and `alg` must be in the allow-list of
    that key (its family, narrowed by the partner's `algorithms`).
    """

    def __init__(
        self,
        partner_id: str,
        rules: TokenRules,
        keys: KeySource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._partner_id = partner_id
        self._clock = clock
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
        self._jwt = _ClockedJwt(clock, {"require": required})

    def precheck(self, credential: Credential) -> None:
        if not isinstance(credential, PartnerToken):
            raise WrongCredentialKind("this partner accepts a token")

    async def verify(self, credential: Credential) -> ExternalIdentity:
        self.precheck(credential)
        assert isinstance(credential, PartnerToken)
        claims = await self.decode(credential.token)
        return self.identity_from(claims)

    async def decode(self, token: str) -> dict[str, Any]:
        if len(token) > self._rules.max_token_bytes:
            raise CredentialRejected(
                f"token is longer than {self._rules.max_token_bytes} bytes", RejectReason.MALFORMED
            )
        if not token.isascii():  # a JWT is ASCII; other header bytes arrive as surrogates
            raise CredentialRejected("token is not ASCII", RejectReason.MALFORMED)
        header = self._checked_header(token)
        key = await self._keys.key_for(_kid(header))
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
        except jwt.PyJWTError as error:
            raise library_rejection(error) from None
        except RecursionError:  # a signed payload nested past the JSON parser's depth
            raise CredentialRejected("payload is nested too deeply", RejectReason.MALFORMED) from None
        _check_time_claims(claims)
        self._check_optional_iss_aud(claims)
        self._check_claim_rules(claims)
        return claims

    def _check_optional_iss_aud(self, claims: dict[str, Any]) -> None:
        """With require_issuer / require_audience = false a token may leave `iss` / `aud` out; one
        that carries them must still match what is configured."""
        rules = self._rules
        if not rules.require_issuer and "iss" in claims and claims["iss"] != rules.issuer:
            raise CredentialRejected("InvalidIssuerError: token has an unexpected iss", RejectReason.ISSUER)
        if not rules.require_audience and "aud" in claims:
            present = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            if not set(map(str, present)) & set(self._audiences):
                raise CredentialRejected(
                    "InvalidAudienceError: token has an unexpected aud", RejectReason.AUDIENCE
                )

    async def signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token whose signature verifies with this partner's key, even if it is
        expired or otherwise refused; None when the signature does not verify. Only for choosing
        where a failed browser login goes (never to accept a login)."""
        if len(token) > self._rules.max_token_bytes:
            return None
        try:
            header = self._checked_header(token)
            key = await self._keys.key_for(_kid(header))
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
            raise library_rejection(error) from None
        except RecursionError:  # `[[[[…` in the header: json.loads gives up before anything else
            raise CredentialRejected("header is nested too deeply", RejectReason.MALFORMED) from None
        if header.get("alg") not in self._rules.algorithms:
            # Only a known algorithm name is logged: the header is the presenter's text.
            named = header.get("alg") if header.get("alg") in KNOWN_ALGORITHMS else "(unknown)"
            raise CredentialRejected(f"algorithm {named!r} is not allowed", RejectReason.ALGORITHM)
        if "crit" in header:
            raise CredentialRejected(
                "token has a crit header; no extension is understood", RejectReason.HEADER
            )
        if self._rules.typ is not None and str(header.get("typ", "")).lower() != self._rules.typ.lower():
            raise CredentialRejected(f"header typ is not {self._rules.typ!r}", RejectReason.HEADER)
        return header

    def _check_claim_rules(self, claims: dict[str, Any]) -> None:
        rules = self._rules
        if rules.max_token_age_seconds is not None:
            age = self._clock() - float(claims["iat"])
            if age > rules.max_token_age_seconds + rules.leeway_seconds:
                raise CredentialRejected(
                    f"token is older than {rules.max_token_age_seconds} s", RejectReason.CLAIMS
                )
        unmatched = unmatched_claim(claims, rules.required_claims)
        if unmatched is not None:
            raise CredentialRejected(f"required claim {unmatched!r} does not match", RejectReason.CLAIMS)
        if rules.single_use:
            jti = claims.get("jti")
            if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
                raise CredentialRejected(
                    "jti must be a non-empty string for single-use tokens", RejectReason.CLAIMS
                )

    def identity_from(self, claims: dict[str, Any]) -> ExternalIdentity:
        rules = self._rules
        paths = rules.identity_paths
        identity = identity_from(self._partner_id, paths, claims, claims)
        if rules.require_email_verified and claims.get("email_verified") is not True:
            email_used = (
                paths.id_is_email or identity.email is not None or rules.email_claim in rules.claims.values()
            )
            if email_used:
                raise CredentialRejected("email_verified is not true", RejectReason.IDENTITY)
        return identity


def _kid(header: dict[str, Any]) -> str | None:
    """The header's `kid` when it is a string: only a lookup key among trusted keys."""
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _check_time_claims(claims: dict[str, Any]) -> None:
    """exp/nbf/iat must be finite JSON numbers within datetime's range, not numeric strings (PyJWT
    converts with int(), which would take "1900000000") nor booleans."""
    for name in TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CredentialRejected(f"claim {name!r} is not a JSON number", RejectReason.CLAIMS)
        if not (math.isfinite(value) and 0 <= value <= MAX_NUMERIC_DATE):
            raise CredentialRejected(f"claim {name!r} is out of range", RejectReason.CLAIMS)
