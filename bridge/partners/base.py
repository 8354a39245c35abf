"""The interface every kind of partner credential implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from bridge.identity import ExternalIdentity


@dataclass(frozen=True, slots=True)
class PartnerToken:
    """A credential the partner issued as a token (a JWT)."""

    token: str


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    """A username and password that bridge relays to the partner's own login API."""

    username: str
    password: str

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        return f"PasswordLogin(username={self.username!r}, password=<hidden>)"


Credential = PartnerToken | PasswordLogin


@dataclass(frozen=True, slots=True)
class Presented:
    """What a login request offers, before the partner makes a credential of it: body fields by
    bridge's names (None: absent), the `Authorization: Bearer` token, and how to name them when
    something is missing (`who` takes …; `names`: a route's own field names)."""

    who: str
    username: str | None = None
    password: str | None = None
    token: str | None = None
    bearer: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the password
        return f"Presented(who={self.who!r}, username={self.username!r}, password=<hidden>)"

    def name(self, field_name: str) -> str:
        """The request's name for one of bridge's credential fields."""
        return self.names.get(field_name, field_name)


class RejectReason(StrEnum):
    """Why a credential was refused, as a short code: the `code` of the `login rejected` log line
    and what decides the message a person sees after a failed browser login."""

    MALFORMED = "malformed"  # not a well-formed JWT, too long, not ASCII, nested too deeply
    ALGORITHM = "algorithm"  # `alg` not in the partner's allow-list (`none` never is)
    HEADER = "header"  # a `crit` or `typ` header the partner does not take
    UNKNOWN_KEY = "unknown-key"  # no trusted key has the token's `kid`
    SIGNATURE = "signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    ISSUER = "issuer"
    AUDIENCE = "audience"
    MISSING_CLAIM = "missing-claim"
    CLAIMS = "claims"  # a claim breaks a rule: required value, time claim type/range, token age, jti
    IDENTITY = "identity"  # no usable user id, or an unverified email where one is used
    REPLAYED = "replayed"  # a single-use token presented again
    PASSWORD = "password"  # the username or password is refused (length, or by the partner)
    INVALID = "invalid"  # any other reason the token library gives


class CredentialRejected(Exception):
    """The credential is not valid. `code` says why in one word; the message is the precise
    reason, for the log only: clients always get one generic answer."""

    def __init__(self, detail: str, code: RejectReason = RejectReason.INVALID) -> None:
        super().__init__(detail)
        self.code = code


class CredentialExpired(CredentialRejected):
    """The token was valid once: it is past its `exp`."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, RejectReason.EXPIRED)


class CredentialReplayed(CredentialRejected):
    """A single-use token was presented again."""

    def __init__(self, detail: str = "token has already been used") -> None:
        super().__init__(detail, RejectReason.REPLAYED)


class CredentialIncomplete(ValueError):
    """The request does not carry the credential the partner takes; the message says what to send."""


class WrongCredentialKind(Exception):
    """The partner takes another kind of credential (e.g. a token where it expects a password)."""


class KeysUnavailable(Exception):
    """The partner's keys (JWKS) cannot be fetched and none are cached: answer 503, not 401."""


class Verifier(Protocol):
    def precheck(self, credential: Credential) -> None:
        """Refuse a credential of the wrong kind (WrongCredentialKind) or shape (CredentialRejected)
        without any I/O: it runs before anything is counted or sent."""
        ...

    async def verify(self, credential: Credential) -> ExternalIdentity:
        """Return who the credential says the user is, or raise CredentialRejected. Verifying
        writes nothing."""
        ...

    async def signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token whose signature verifies, even if it is otherwise refused; None
        when it does not (or the partner takes no tokens). Never used to accept a login."""
        ...
