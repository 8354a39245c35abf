"""What admins do, shared by the HTTP API, the web page and the CLI."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.identity import check_claims
from bridge.infra.json_value import JsonObject
from bridge.partners import Partner, tenant_of
from bridge.services.reconcile import Progress, ReconcileReport, Reconciliation
from bridge.services.verdict import FirebaseUser, Verdict, firebase_view, mongodb_view, verdict
from bridge.store.audit import AuditEntry, AuditLog
from bridge.store.devices import DeviceStore
from bridge.store.user_refs import parse_user_ref, resolve_user_refs
from bridge.store.users import Claims, UserQuery, UserRecord, UserStore

log = logging.getLogger("bridge.admin")

MAX_PAGE = 200

# The filters of a user listing (the name the HTTP API and the page know).
UserFilter = UserQuery


@dataclass(frozen=True, slots=True)
class Target:
    """A user an admin acts on: its MongoDB record and Firebase record, either of which may be missing."""

    user: UserRecord | None
    uid: str
    tenant: str | None
    firebase: FirebaseUser | None


class BadCursor(ValueError):
    """A list cursor this API did not make."""


class UserNotFound(Exception):
    """Neither store knows the user (or the caller may not see it). The message is the reference;
    `detail` is what the client is told."""

    def __init__(self, ref: str, detail: str = "Neither store knows this user.") -> None:
        super().__init__(ref)
        self.detail = detail


class PartlyApplied(Exception):
    """MongoDB changed but Firebase did not (or the reverse): the verdict shows what differs."""


@dataclass(frozen=True, slots=True)
class UserState:
    """A user in both stores, with its device count and verdict."""

    uid: str
    user: UserRecord | None
    firebase: FirebaseUser | None
    devices: int
    verdict: Verdict

    def snapshot(self) -> JsonObject:
        """Both records, as the audit log keeps them."""
        return _views(self.user, self.firebase)

    def as_json(self) -> dict[str, Any]:  # Any: the admin page reads it as a plain dict
        return {
            "uid": self.uid,
            **self.snapshot(),
            "devices": self.devices,
            "verdict": self.verdict.as_json(),
        }


@dataclass(frozen=True, slots=True)
class Deleted:
    """What an admin's delete leaves: nothing in either store."""

    uid: str

    def as_json(self) -> JsonObject:
        return {"uid": self.uid, "deleted": True}


@dataclass(frozen=True, slots=True)
class UserRow:
    """A listed MongoDB user with its Firebase record and verdict."""

    user: UserRecord
    firebase: FirebaseUser | None
    verdict: Verdict

    def as_json(self) -> dict[str, Any]:  # Any: the admin page reads it as a plain dict
        return {**_views(self.user, self.firebase), "verdict": self.verdict.as_json()}


def _views(user: UserRecord | None, firebase: FirebaseUser | None) -> JsonObject:
    """Both records as admins see them."""
    return {"mongodb": mongodb_view(user), "firebase": firebase.as_json() if firebase is not None else None}


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[UserRecord]
    total: int
    next_cursor: str | None


def encode_cursor(uid: str) -> str:
    return base64.urlsafe_b64encode(uid.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("not a cursor from this API") from None


Change = Callable[[Target], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AdminService:
    users: UserStore
    devices: DeviceStore
    firebase: FirebaseAuth
    audit: AuditLog
    partners: Mapping[str, Partner]

    # --- reading -------------------------------------------------------------------------
    def _tenant(self, partner_id: str | None) -> str | None:
        return tenant_of(self.partners, partner_id)

    async def list_users(self, filters: UserQuery, cursor: str | None, limit: int) -> UserPage:
        total = await self.users.count(filters)
        limit = max(1, min(limit, MAX_PAGE))
        users = await self.users.page(filters, decode_cursor(cursor) if cursor else None, limit)
        next_cursor = encode_cursor(users[-1].uid) if len(users) == limit else None
        return UserPage(users, total, next_cursor)

    async def with_verdicts(self, users: list[UserRecord]) -> list[UserRow]:
        """Each MongoDB user with its Firebase record and verdict (one Firebase call per 100 users)."""
        by_tenant: dict[str | None, list[str]] = {}
        for user in users:
            by_tenant.setdefault(self._tenant(user.partner), []).append(user.uid)
        records = {}
        for tenant, uids in by_tenant.items():
            records.update(await self.firebase.get_users(uids, tenant))
        rows = []
        for user in users:
            firebase = firebase_view(records.get(user.uid))
            rows.append(UserRow(user, firebase, verdict(user, firebase)))
        return rows

    async def _target(self, ref_text: str) -> Target:
        ref = parse_user_ref(ref_text)
        user = (await resolve_user_refs(self.users, [ref])).get(ref.raw)
        uid, tenant = (user.uid, self._tenant(user.partner)) if user else (ref.uid, self._tenant(ref.partner))
        firebase = firebase_view(await self.firebase.get_user(uid, tenant))
        if user is None and firebase is None:
            raise UserNotFound(ref_text)
        return Target(user, uid, tenant, firebase)

    async def _state(self, target: Target) -> UserState:
        devices = len(await self.devices.of_user(target.uid))
        return UserState(
            target.uid, target.user, target.firebase, devices, verdict(target.user, target.firebase)
        )

    async def verify(self, ref_text: str) -> UserState:
        return await self._state(await self._target(ref_text))

    # --- acting --------------------------------------------------------------------------
    async def _act(
        self, action: str, ref_text: str, actor: str, request_id: str | None, change: Change
    ) -> UserState | Deleted:
        target = await self._target(ref_text)
        before = await self._state(target)
        try:
            await change(target)
        except Exception as error:
            await self.audit.record(
                AuditEntry(
                    actor,
                    action,
                    target.uid,
                    before.snapshot(),
                    None,
                    request_id,
                    "partial",
                    f"{type(error).__name__}: {error}",
                )
            )
            log.warning(
                "admin action partly applied", extra={"action": action, "error": type(error).__name__}
            )
            raise PartlyApplied(
                f"{action} of {target.uid} was not completed in both stores: {type(error).__name__}"
            ) from error
        after = await self._verify_or_gone(ref_text)
        await self.audit.record(
            AuditEntry(
                actor, action, target.uid, before.snapshot(), after.snapshot() if after else None, request_id
            )
        )
        return after or Deleted(target.uid)

    async def _verify_or_gone(self, ref_text: str) -> UserState | None:
        try:
            return await self.verify(ref_text)
        except UserNotFound:
            return None

    async def set_disabled(
        self, ref_text: str, disabled: bool, actor: str, request_id: str | None
    ) -> UserState | Deleted:
        async def change(target: Target) -> None:
            if target.user is not None:
                await self.users.set_disabled(target.uid, disabled)
                if disabled:
                    await self.users.revoke_sessions(target.uid)
            if target.firebase is not None:
                await self.firebase.update_user(target.uid, {"disabled": disabled}, target.tenant)
                if disabled:
                    await self.firebase.revoke_refresh_tokens(target.uid, target.tenant)

        return await self._act("disable" if disabled else "enable", ref_text, actor, request_id, change)

    async def revoke_sessions(self, ref_text: str, actor: str, request_id: str | None) -> UserState | Deleted:
        async def change(target: Target) -> None:
            if target.user is not None:
                await self.users.revoke_sessions(target.uid)
            await self.firebase.revoke_refresh_tokens(target.uid, target.tenant)

        return await self._act("revoke", ref_text, actor, request_id, change)

    async def replace_claims(
        self, ref_text: str, claims: Claims, actor: str, request_id: str | None
    ) -> UserState | Deleted:
        check_claims(claims)

        async def change(target: Target) -> None:
            if target.user is not None:
                await self.users.replace_custom_claims(target.uid, claims)
            if target.firebase is not None:
                await self.firebase.set_custom_claims(target.uid, claims or None, target.tenant)

        return await self._act("replace-claims", ref_text, actor, request_id, change)

    async def delete(self, ref_text: str, actor: str, request_id: str | None) -> UserState | Deleted:
        async def change(target: Target) -> None:
            await self.firebase.delete_user(target.uid, target.tenant)
            await self.devices.delete_user_devices(target.uid)
            if target.user is not None:
                await self.users.delete(target.uid)

        return await self._act("delete", ref_text, actor, request_id, change)

    # --- reconcile -----------------------------------------------------------------------
    async def reconcile(self, *, fix: bool, actor: str, progress: Progress | None = None) -> ReconcileReport:
        """See Reconciliation.run."""
        reconciliation = Reconciliation(self.users, self.firebase, self.audit, self.partners, fix, actor)
        return await reconciliation.run(progress)
