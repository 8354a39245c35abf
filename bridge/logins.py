"""The login pipeline shared by every way in: credential → identity → user record + custom token
(+ a Firebase session when asked)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.attempts import LockedOut, LoginAttempts
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.sessions import Session, SessionApi
from bridge.identity import ExternalIdentity
from bridge.partners import Partner
from bridge.partners.base import Credential, CredentialRejected, CredentialReplayed
from bridge.used_tokens import UsedTokens
from bridge.users import UserStore


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: dict[str, Any]
    custom_token: str
    session: Session | None = None


class Logins:
    def __init__(
        self,
        users: UserStore,
        used_tokens: UsedTokens,
        minter: CustomTokenMinter,
        sessions: SessionApi,
        attempts: LoginAttempts,
    ) -> None:
        self._users = users
        self._used_tokens = used_tokens
        self._minter = minter
        self._sessions = sessions
        self._attempts = attempts

    async def login(
        self,
        partner: Partner,
        credential: Credential,
        *,
        with_session: bool = False,
        client_address: str | None = None,
    ) -> LoginResult:
        """Verify, map, then write. Every check that can refuse the login runs before the first
        write: a rejected login changes nothing (a single-use token is spent only when all else
        passed). With `client_address`, invalid credentials from it are counted and, over the
        partner's `max_invalid_per_address`, refused with LockedOut before any check. Raises
        CredentialRejected, LockedOut, ClaimsTooLarge, UserDisabled, UidConflict and the
        verifiers' own errors; with a session, also the session API's."""
        invalid = partner.invalid_counter(client_address) if client_address is not None else None
        if invalid is not None:
            await self._attempts.refuse_if_locked([invalid])
        try:
            identity = await partner.verifier.verify(credential)
            uid = partner.uid_for(identity)
            claims = partner.developer_claims(identity)
            if partner.single_use:
                # Refuse a disabled user or a taken uid before the token is spent.
                await self._users.refuse_conflicts(partner.id, identity.external_id, uid)
                await self._spend(partner, identity)
        except CredentialRejected as rejected:
            retry_after = await self._attempts.record_failure(invalid) if invalid is not None else None
            if retry_after is not None:
                raise LockedOut(retry_after) from rejected
            raise
        # Sign while MongoDB works: the signature runs in the signing pool, the upsert on the network.
        user, custom_token = await asyncio.gather(
            self._users.record_login(identity, uid, claims),
            self._minter.mint(uid, claims, partner.config.tenant_id),
        )
        session = (
            await self._sessions.sign_in(custom_token, partner.config.tenant_id) if with_session else None
        )
        return LoginResult(user, custom_token, session)

    async def _spend(self, partner: Partner, identity: ExternalIdentity) -> None:
        jti, exp = identity.claims["jti"], identity.claims["exp"]
        # Remembered until the token could no longer pass verification anyway.
        expires_at = datetime.fromtimestamp(int(exp) + partner.leeway_seconds, UTC)
        if not await self._used_tokens.use(partner.id, jti, expires_at):
            raise CredentialReplayed("token has already been used")
