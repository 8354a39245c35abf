"""The login pipeline shared by every way in: credential → identity → user record + custom token
(+ a Firebase session when asked)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.firebase.auth_admin import AuthUnavailable, EmailInUse, FirebaseAuth
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.sessions import Session, SessionApi
from bridge.identity import ExternalIdentity
from bridge.partners import Partner
from bridge.partners.base import Credential, CredentialRejected, CredentialReplayed, PartnerToken
from bridge.store.attempts import LockedOut, LoginAttempts
from bridge.store.used_tokens import UsedTokens
from bridge.store.users import FIREBASE_USER_CREATED, UserRecord, UserStore

log = logging.getLogger("bridge.login")


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: UserRecord
    custom_token: str
    session: Session | None = None
    # Who the partner said the user is (for answers in a platform's contract).
    identity: ExternalIdentity | None = None


class Logins:
    def __init__(
        self,
        users: UserStore,
        used_tokens: UsedTokens,
        minter: CustomTokenMinter,
        sessions: SessionApi,
        attempts: LoginAttempts,
        firebase: FirebaseAuth | None = None,
    ) -> None:
        self._users = users
        self._used_tokens = used_tokens
        self._minter = minter
        self._sessions = sessions
        self._attempts = attempts
        self._firebase = firebase

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
        verifiers' own errors; with a session, also the session API's.

        When a later step fails (MongoDB or Firebase down), a spent single-use token is given back
        (nothing was issued for it), and the login is not counted: the user record may have been
        created or refreshed (the partner credential was valid), but login_count and last_login_at
        move only for a login that completed."""
        invalid = partner.invalid_counter(client_address) if client_address is not None else None
        if invalid is not None:
            if isinstance(credential, PartnerToken):
                # A token is checked here, never sent on: the locks this process knows (its own
                # and, within LOCK_SYNC_SECONDS, every other process's) cost no round trip.
                await self._attempts.refuse_if_known_locked(invalid)
            else:  # a password goes to the partner only from an address MongoDB says is not locked
                await self._attempts.refuse_if_locked([invalid])
        spent: datetime | None = None
        try:
            identity = await partner.verifier.verify(credential)
            uid = partner.uid_for(identity)
            claims = partner.developer_claims(identity)
            if partner.single_use:
                # Refuse a disabled user or a taken uid before the token is spent.
                await self._users.refuse_conflicts(partner.id, identity.external_id, uid)
                spent = await self._spend(partner, identity)
        except CredentialRejected as rejected:
            retry_after = await self._attempts.record_failure(invalid) if invalid is not None else None
            if retry_after is not None:
                raise LockedOut(retry_after) from rejected
            raise
        first_login_makes_user = partner.config.firebase_user == "on_first_login"
        # Count the login only once every step that can still fail has passed.
        deferred_count = with_session or first_login_makes_user
        try:
            # Sign while MongoDB works: the signature runs in the signing pool, the upsert on the network.
            user, custom_token = await asyncio.gather(
                self._users.record_login(
                    identity,
                    uid,
                    claims,
                    count=not deferred_count,
                    firebase_user=partner.config.firebase_user,
                ),
                self._minter.mint(uid, claims, partner.config.tenant_id),
            )
            if first_login_makes_user and user.firebase_user != FIREBASE_USER_CREATED:
                await self._create_firebase_user(partner, identity, uid)
            session = None
            if with_session:
                session = await self._sessions.sign_in(custom_token, partner.config.tenant_id)
            if deferred_count:
                user = await self._users.count_login(uid) or user
        except BaseException:
            if spent is not None:
                await self._give_back(partner, identity, spent)
            raise
        return LoginResult(user, custom_token, session, identity)

    async def _create_firebase_user(self, partner: Partner, identity: ExternalIdentity, uid: str) -> None:
        """firebase_user = "on_first_login": the Firebase Auth user exists when the login answers
        (with email and display name). Any failure is AuthUnavailable (503), never skipped; the
        next login tries again. An email another Firebase user has is left out (logged)."""
        if self._firebase is None:
            raise AuthUnavailable("firebase auth is not wired into logins")
        fields = {
            name: value
            for name, value in (("email", identity.email), ("display_name", identity.display_name))
            if value is not None
        }
        tenant = partner.config.tenant_id
        try:
            try:
                await self._firebase.create_user(uid, fields, tenant)
            except EmailInUse:
                log.warning(
                    "email belongs to another firebase user; created the user without it",
                    extra={"partner": partner.id, "uid": uid},
                )
                fields.pop("email")
                await self._firebase.create_user(uid, fields, tenant)
        except AuthUnavailable:
            raise
        except Exception as error:  # e.g. a refused display name: still not a silent skip
            raise AuthUnavailable(f"creating the firebase user failed: {type(error).__name__}") from None
        await self._users.mark_firebase_user_created(uid)

    async def _spend(self, partner: Partner, identity: ExternalIdentity) -> datetime:
        jti, exp = identity.claims["jti"], identity.claims["exp"]
        # Remembered until the token could no longer pass verification anyway.
        expires_at = datetime.fromtimestamp(int(exp) + partner.leeway_seconds, UTC)
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # MongoDB keeps milliseconds
        if not await self._used_tokens.use(partner.id, jti, expires_at, now):
            raise CredentialReplayed("token has already been used")
        return now

    async def _give_back(self, partner: Partner, identity: ExternalIdentity, used_at: datetime) -> None:
        try:
            await self._used_tokens.give_back(partner.id, identity.claims["jti"], used_at)
        except Exception as error:  # the token stays spent; the caller asks the partner for another
            log.warning("could not give a single-use token back", extra={"error": type(error).__name__})
