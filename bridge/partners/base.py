"""The interface every kind of partner credential implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge.identity import ExternalIdentity


@dataclass(frozen=True, slots=True)
class PartnerToken:
    """A credential the partner issued as a token (a JWT)."""

    token: str


# Later credential kinds (username/password relayed to the partner) join this union.
Credential = PartnerToken


class CredentialRejected(Exception):
    """The credential is not valid. The message is the precise reason, for the log only:
    clients always get one generic answer."""


class WrongCredentialKind(Exception):
    """The partner takes another kind of credential (e.g. a token where it expects a password)."""


class Verifier(Protocol):
    async def verify(self, credential: Credential) -> ExternalIdentity:
        """Return who the credential says the user is, or raise CredentialRejected."""
        ...
