"""The interface every kind of partner credential implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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
    client_address: str

    def __repr__(self) -> str:  # never show the password, even in a debugger or traceback
        return f"PasswordLogin(username={self.username!r}, password=<hidden>)"


Credential = PartnerToken | PasswordLogin


class CredentialRejected(Exception):
    """The credential is not valid. The message is the precise reason, for the log only:
    clients always get one generic answer."""


class CredentialExpired(CredentialRejected):
    """The token was valid once: it is past its `exp`."""


class CredentialReplayed(CredentialRejected):
    """A single-use token was presented again."""


class WrongCredentialKind(Exception):
    """The partner takes another kind of credential (e.g. a token where it expects a password)."""


class KeysUnavailable(Exception):
    """The partner's keys (JWKS) cannot be fetched and none are cached: answer 503, not 401."""


class Verifier(Protocol):
    async def verify(self, credential: Credential) -> ExternalIdentity:
        """Return who the credential says the user is, or raise CredentialRejected."""
        ...
