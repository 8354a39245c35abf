"""The login pipeline shared by every way in: credential → identity → user record + custom token
(+ a Firebase session when asked). Every login ends in `_finish`, which counts its outcome
(bridge_logins_total) and logs why it failed; the HTTP layer only turns exceptions into answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.firebase.auth_admin import AuthUnavailable, EmailInUse, IdTokenRejected
from bridge.firebase.sessions import Session, SessionRejected, SessionsNotConfigured, SessionsUnavailable
from bridge.identity import Claims, ClaimsTooLarge, ExternalIdentity
from bridge.infra.metrics import LOGIN_OUTCOMES
from bridge.partners import Partner
from bridge.partners.base import (
    Credential,
    CredentialRejected,
    CredentialReplayed,
    KeysUnavailable,
    PartnerToken,
    WrongCredentialKind,
)
from bridge.partners.password import PartnerLoginFailed
from bridge.store.attempts import Counter, LockedOut
from bridge.store.users import FIREBASE_USER_CREATED, UidConflict, UserDisabled, UserRecord

log = logging.getLogger("bridge.login")


# --- the ports the pipeline uses (MongoDB and Firebase in production, fakes in unit tests) ---------
class UserRecords(Protocol):
    """The calls the pipeline makes to the user store (store.users.UserStore)."""

    async def refuse_conflicts(self, partner: str, external_id: str, uid: str) -> None: ...

    async def record_login(
        self,
        identity: ExternalIdentity,
        uid: str,
        claims: Claims,
        *,
        count: bool,
        firebase_user: str,
    ) -> UserRecord: ...

    async def count_login(self, uid: str) -> UserRecord | None: ...

    async def mark_firebase_user_created(self, uid: str) -> None: ...


class SpentTokens(Protocol):
    async def use(
        self, partner: str, jti: str, expires_at: datetime, now: datetime | None = None
    ) -> bool: ...

    async def give_back(self, partner: str, jti: str, used_at: datetime) -> None: ...


class Minter(Protocol):
    async def mint(self, uid: str, claims: Claims | None = None, tenant_id: str | None = None) -> str: ...


class SignIns(Protocol):
    async def sign_in(self, custom_token: str, tenant_id: str | None = None) -> Session: ...


class Attempts(Protocol):
    async def refuse_if_known_locked(self, counter: Counter) -> None: ...

    async def refuse_if_locked(self, counters: list[Counter]) -> None: ...

    async def reserve(self, counters: list[Counter]) -> None: ...

    async def release(self, counters: list[Counter]) -> None: ...

    async def clear(self, counter: Counter) -> None: ...

    async def record_failure(self, counter: Counter) -> int | None: ...


class FirebaseUsers(Protocol):
    async def create_user(
        self, uid: str, fields: Mapping[str, Any], tenant_id: str | None = None
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: UserRecord
    custom_token: str
    session: Session | None = None
    # Who the partner said the user is (for answers in a platform's contract).
    identity: ExternalIdentity | None = None


# --- outcomes: the `outcome` label of bridge_logins_total, by the error that ended the login ---------
SUCCESS = "success"
UNKNOWN_FAILURE = "error"
_OUTCOMES: dict[type[Exception], str] = {
    CredentialReplayed: "token-already-used",
    CredentialRejected: "invalid-credential",
    WrongCredentialKind: "bad-request",
    UserDisabled: "user-disabled",
    UidConflict: "uid-conflict",
    ClaimsTooLarge: "claims-too-large",
    LockedOut: "too-many-attempts",
    KeysUnavailable: "partner-keys-unavailable",
    SessionRejected: "invalid-credential",
    IdTokenRejected: "invalid-credential",
    SessionsNotConfigured: "sessions-not-configured",
    SessionsUnavailable: "firebase-unavailable",
    AuthUnavailable: "firebase-unavailable",
}


def login_outcome(error: Exception) -> str:
    """The outcome a failed login is counted as: the slug of the problem it is answered with."""
    if isinstance(error, PartnerLoginFailed):
        return "partner-timeout" if error.timed_out else "partner-unavailable"
    for kind in type(error).__mro__:
        if kind in _OUTCOMES:
            return _OUTCOMES[kind]
    return UNKNOWN_FAILURE


def log_failure(partner_id: str, error: Exception) -> None:
    """The log line of a failed login: the precise reason, never the credential."""
    if isinstance(error, CredentialRejected):
        log.info("login rejected", extra={"partner": partner_id, "reason": str(error), "code": error.code})
    elif isinstance(error, UserDisabled):
        log.info("login rejected", extra={"partner": partner_id, "reason": "user is disabled"})
    elif isinstance(error, UidConflict):
        log.warning(
            "login refused: uid conflict", extra={"partner": partner_id, "owner": error.owner_partner}
        )
    elif isinstance(error, ClaimsTooLarge):
        log.warning("login refused: claims too large", extra={"partner": partner_id})
    elif isinstance(error, LockedOut):
        log.warning("login refused: too many failures", extra={"partner": partner_id})
    elif isinstance(error, KeysUnavailable):
        log.warning("partner keys unavailable", extra={"partner": partner_id, "error": str(error)})
    elif isinstance(error, PartnerLoginFailed):
        log.warning("partner login API failed", extra={"partner": partner_id, "error": str(error)})
    # Firebase and session failures are logged where they are answered (they are not login-specific).


class Logins:
    def __init__(
        self,
        users: UserRecords,
        used_tokens: SpentTokens,
        minter: Minter,
        sessions: SignIns,
        attempts: Attempts,
        firebase: FirebaseUsers | None = None,
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
        client_address: str,
    ) -> LoginResult:
        """Verify, map, then write. Every check that can refuse the login runs before the first
        write: a rejected login changes nothing (a single-use token is spent only when all else
        passed). Invalid credentials from `client_address` are counted and, over the partner's
        `max_invalid_per_address`, refused with LockedOut before any check. Raises
        CredentialRejected, LockedOut, ClaimsTooLarge, UserDisabled, UidConflict and the
        verifiers' own errors; with a session, also the session API's. Every outcome is counted
        and every failure logged here.

        When a later step fails (MongoDB or Firebase down), a spent single-use token is given back
        (nothing was issued for it), and the login is not counted: the user record may have been
        created or refreshed (the partner credential was valid), but login_count and last_login_at
        move only for a login that completed."""
        try:
            result = await self._log_in(partner, credential, with_session, client_address)
        except Exception as error:
            _finish(partner.id, error)
            raise
        _finish(partner.id, None)
        return result

    async def _log_in(
        self, partner: Partner, credential: Credential, with_session: bool, client_address: str
    ) -> LoginResult:
        invalid = partner.invalid_counter(client_address)
        await self._refuse_locked_address(invalid, credential)
        spent: datetime | None = None
        try:
            identity = await self._verify(partner, credential, client_address)
            uid = partner.uid_for(identity)
            claims = partner.developer_claims(identity)
            if partner.single_use:
                # Refuse a disabled user or a taken uid before the token is spent.
                await self._users.refuse_conflicts(partner.id, identity.external_id, uid)
                spent = await self._spend(partner, identity)
        except CredentialRejected as rejected:
            retry_after = await self._attempts.record_failure(invalid)
            if retry_after is not None:
                raise LockedOut(retry_after) from rejected
            raise
        try:
            return await self._issue(partner, identity, uid, claims, with_session)
        except BaseException:
            if spent is not None:
                await self._give_back(partner, identity, spent)
            raise

    async def _refuse_locked_address(self, invalid: Counter, credential: Credential) -> None:
        if isinstance(credential, PartnerToken):
            # A token is checked here, never sent on: the locks this process knows (its own
            # and, within LOCK_SYNC_SECONDS, every other process's) cost no round trip.
            await self._attempts.refuse_if_known_locked(invalid)
        else:  # a password goes to the partner only from an address MongoDB says is not locked
            await self._attempts.refuse_if_locked([invalid])

    async def _verify(
        self, partner: Partner, credential: Credential, client_address: str
    ) -> ExternalIdentity:
        """The verifier's identity. A credential whose checks reach the partner (a password) first
        reserves an attempt on each failure counter, so at most the limit of checks per window
        reach it, however many arrive at once; a refusal keeps the attempts, a success clears the
        first counter (the username's) and releases the rest, and any other failure (the partner
        said nothing about the credential) releases them all."""
        partner.verifier.precheck(credential)
        counters = partner.failure_counters(credential, client_address)
        if not counters:
            return await partner.verifier.verify(credential)
        await self._attempts.reserve(counters)
        try:
            identity = await partner.verifier.verify(credential)
        except CredentialRejected:
            raise
        except BaseException:
            await self._attempts.release(counters)
            raise
        await self._attempts.clear(counters[0])
        await self._attempts.release(counters[1:])
        return identity

    async def _issue(
        self,
        partner: Partner,
        identity: ExternalIdentity,
        uid: str,
        claims: dict[str, Any],
        with_session: bool,
    ) -> LoginResult:
        """Write the user record, mint the custom token (and make the Firebase user and session
        when configured or asked); the login is counted only once every step has passed."""
        first_login_makes_user = partner.makes_firebase_user_on_first_login
        deferred_count = with_session or first_login_makes_user
        # Sign while MongoDB works: the signature runs in the signing pool, the upsert on the network.
        user, custom_token = await asyncio.gather(
            self._users.record_login(
                identity, uid, claims, count=not deferred_count, firebase_user=partner.firebase_user_policy
            ),
            self._minter.mint(uid, claims, partner.tenant_id),
        )
        if first_login_makes_user and user.firebase_user != FIREBASE_USER_CREATED:
            await self._create_firebase_user(partner, identity, uid)
        session = await self._sessions.sign_in(custom_token, partner.tenant_id) if with_session else None
        if deferred_count:
            user = await self._users.count_login(uid) or user
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
        tenant = partner.tenant_id
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


def _finish(partner_id: str, error: Exception | None) -> None:
    """The one place a login's outcome is counted (and a failure logged)."""
    if error is None:
        LOGIN_OUTCOMES.labels(partner_id, SUCCESS).inc()
        return
    log_failure(partner_id, error)
    LOGIN_OUTCOMES.labels(partner_id, login_outcome(error)).inc()
