"""Username + password relayed to the partner's own login API (e.g. Strapi `/api/auth/local`).

The password goes to the partner and nowhere else: it is never logged, stored or echoed.
Attempts are reserved per (partner, normalised username) and per client address in MongoDB before
the password is relayed, so the limit holds for concurrent requests and across bridge processes;
over the limit, logins answer 429 until the window ends.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.identity import ExternalIdentity, normalised_email
from bridge.infra.outbound import Outbound, UpstreamError, UpstreamTimeout
from bridge.partners.base import Credential, CredentialRejected, PasswordLogin, WrongCredentialKind
from bridge.partners.config import PasswordPartnerConfig
from bridge.partners.jwt_token import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, external_id, optional_text
from bridge.store.attempts import Counter, LoginAttempts, address_key, user_key

log = logging.getLogger("bridge.password")

REJECTED_STATUSES = frozenset({400, 401, 403, 404, 422})


class PartnerLoginFailed(Exception):
    """The partner's login API is down, failing or too slow (502/504, not 401)."""

    def __init__(self, message: str, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class PasswordVerifier:
    def __init__(
        self, partner_id: str, config: PasswordPartnerConfig, outbound: Outbound, attempts: LoginAttempts
    ) -> None:
        self._partner_id = partner_id
        self._config = config
        self._outbound = outbound
        self._attempts = attempts

    async def verify(self, credential: Credential) -> ExternalIdentity:
        if not isinstance(credential, PasswordLogin):
            raise WrongCredentialKind("this partner accepts a username and password")
        self._check_lengths(credential)
        counters = self._counters(credential)
        # The attempt is taken before the password goes anywhere: at most max_failures_per_user
        # checks per window reach the partner, however many arrive at once.
        await self._attempts.reserve(counters)
        try:
            answer = await self._relay(credential)
        except BaseException:
            await self._attempts.release(counters)  # the partner said nothing about the password
            raise
        if answer is None:
            raise CredentialRejected("the partner's login API refused the username or password")
        try:
            identity = self._identity_from(answer)
        except PartnerLoginFailed:
            await self._attempts.release(counters)
            raise
        await self._attempts.clear(counters[0])
        await self._attempts.release(counters[1:])
        return identity

    def _check_lengths(self, credential: PasswordLogin) -> None:
        if not 0 < len(credential.username) <= self._config.max_username_length:
            raise CredentialRejected("username is empty or too long")
        if not 0 < len(credential.password) <= self._config.max_password_length:
            raise CredentialRejected("password is empty or too long")

    def _counters(self, credential: PasswordLogin) -> list[Counter]:
        window = self._config.failure_window_seconds
        return [
            Counter(
                user_key(self._partner_id, credential.username),
                self._config.max_failures_per_user,
                window,
            ),
            Counter(
                address_key(self._partner_id, credential.client_address),
                self._config.max_failures_per_address,
                window,
            ),
        ]

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
        config = self._config
        try:
            user_id = external_id(answer, config.user_id_path)
        except CredentialRejected:
            raise PartnerLoginFailed(
                f"the partner's login answer has no user id at {config.user_id_path!r}", timed_out=False
            ) from None
        email = optional_text(answer, config.email_path, MAX_EMAIL_LENGTH)
        fold = config.casefold_email_local_part
        if config.user_id_path == config.email_path:
            user_id = normalised_email(user_id, fold)
        return ExternalIdentity(
            partner=self._partner_id,
            external_id=user_id,
            email=normalised_email(email, fold) if email is not None else None,
            display_name=optional_text(answer, config.name_path, MAX_NAME_LENGTH),
            # Claim mappings use dotted paths into the answer (`role = "user.role.name"`); the
            # partner's own session token is left out so it is never stored.
            claims=_without_tokens(answer),
        )


def _without_tokens(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in ("jwt", "token", "access_token", "refresh_token")}
