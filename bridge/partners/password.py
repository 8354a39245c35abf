"""Username + password relayed to the partner's own login API (e.g. Strapi `/api/auth/local`).

The password goes to the partner and nowhere else: it is never logged, stored or echoed. Verifying
writes nothing: the login pipeline reserves the partner's failure counters (per username and per
client address) before it asks for verification, see services.logins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bridge.identity import ExternalIdentity, ScalarClaim
from bridge.infra.outbound import Outbound, UpstreamError, UpstreamTimeout
from bridge.partners.base import (
    Credential,
    CredentialRejected,
    PasswordLogin,
    RejectReason,
    WrongCredentialKind,
)
from bridge.partners.claims import IdentityPaths, identity_from

log = logging.getLogger("bridge.password")

REJECTED_STATUSES = frozenset({400, 401, 403, 404, 422})
# The partner's own session tokens in its answer: never kept (claim mappings read the rest).
_TOKEN_FIELDS = frozenset({"jwt", "token", "access_token", "refresh_token"})


class PartnerLoginFailed(Exception):
    """The partner's login API is down, failing or too slow (502/504, not 401)."""

    def __init__(self, message: str, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class RelaySettings(Protocol):
    """What the relay reads of a password partner's settings (see config.PasswordPartnerConfig)."""

    @property
    def login_url(self) -> str: ...
    @property
    def username_field(self) -> str: ...
    @property
    def password_field(self) -> str: ...
    @property
    def extra_fields(self) -> Mapping[str, ScalarClaim]: ...
    @property
    def timeout_seconds(self) -> float: ...
    @property
    def max_username_length(self) -> int: ...
    @property
    def max_password_length(self) -> int: ...
    @property
    def identity_paths(self) -> IdentityPaths: ...


class PasswordVerifier:
    def __init__(self, partner_id: str, config: RelaySettings, outbound: Outbound) -> None:
        self._partner_id = partner_id
        self._config = config
        self._outbound = outbound

    def precheck(self, credential: Credential) -> None:
        if not isinstance(credential, PasswordLogin):
            raise WrongCredentialKind("this partner accepts a username and password")
        if not 0 < len(credential.username) <= self._config.max_username_length:
            raise CredentialRejected("username is empty or too long", RejectReason.PASSWORD)
        if not 0 < len(credential.password) <= self._config.max_password_length:
            raise CredentialRejected("password is empty or too long", RejectReason.PASSWORD)

    async def verify(self, credential: Credential) -> ExternalIdentity:
        """The user the partner's login API names. CredentialRejected only when the partner refused
        the username or password; PartnerLoginFailed when it said nothing about them."""
        self.precheck(credential)
        assert isinstance(credential, PasswordLogin)
        answer = await self._relay(credential)
        if answer is None:
            raise CredentialRejected(
                "the partner's login API refused the username or password", RejectReason.PASSWORD
            )
        return self._identity_from(answer)

    async def signed_claims(self, token: str) -> dict[str, Any] | None:
        return None  # this partner takes no tokens

    async def _relay(self, credential: PasswordLogin) -> dict[str, Any] | None:
        """The partner's JSON answer for a good login, None for a refused one."""
        body: dict[str, Any] = dict(self._config.extra_fields)
        body[self._config.username_field] = credential.username
        body[self._config.password_field] = credential.password
        try:
            reply = await self._outbound.send(
                "POST", self._config.login_url, json=body, timeout_seconds=self._config.timeout_seconds
            )
            status, answer = reply.status, reply.document
        except UpstreamTimeout as error:
            raise PartnerLoginFailed(str(error), timed_out=True) from None
        except UpstreamError as error:
            raise PartnerLoginFailed(str(error), timed_out=False) from None
        if status in REJECTED_STATUSES:
            return None
        if status != 200 or not isinstance(answer, dict):
            raise PartnerLoginFailed(f"the partner's login API answered {status}", timed_out=False)
        return answer

    def _identity_from(self, answer: dict[str, Any]) -> ExternalIdentity:
        paths = self._config.identity_paths
        # Claim mappings use dotted paths into the answer (`role = "user.role.name"`); the
        # partner's own session token is left out so it is never stored.
        claims = {k: v for k, v in answer.items() if k not in _TOKEN_FIELDS}
        try:
            return identity_from(self._partner_id, paths, answer, claims)
        except CredentialRejected:
            raise PartnerLoginFailed(
                f"the partner's login answer has no user id at {paths.user_id!r}", timed_out=False
            ) from None
