"""What admins do, shared by the HTTP API, the web page and the CLI."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from firebase_admin import auth

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.identity import check_claims
from bridge.partners import Partner
from bridge.services.verdict import differences, firebase_view, mongodb_view, verdict
from bridge.store.audit import AuditLog
from bridge.store.devices import DeviceStore
from bridge.store.user_refs import parse_user_ref, resolve_user_refs
from bridge.store.users import UserStore, pending_first_sign_in

log = logging.getLogger("bridge.admin")

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Target:
    """A user an admin acts on: its MongoDB record and Firebase record, either of which may be missing."""

    user: dict[str, Any] | None
    uid: str
    tenant: str | None
    record: auth.UserRecord | None


class BadCursor(ValueError):
    """A list cursor this API did not make."""


class UserNotFound(Exception):
    """Neither store knows the user."""


class PartlyApplied(Exception):
    """MongoDB changed but Firebase did not (or the reverse): the verdict shows what differs."""


@dataclass(frozen=True, slots=True)
class UserFilter:
    partner: str | None = None
    email: str | None = None
    uid_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    disabled: bool | None = None

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.partner is not None:
            query["partner"] = self.partner
        if self.email is not None:
            query["email"] = self.email
        if self.uid_prefix:
            # A NUL cannot travel inside a MongoDB regex; PCRE's \x00 escape matches it.
            query["uid"] = {"$regex": "^" + re.escape(self.uid_prefix).replace("\x00", "\\x00")}
        created: dict[str, datetime] = {}
        if self.created_from is not None:
            created["$gte"] = self.created_from
        if self.created_to is not None:
            created["$lt"] = self.created_to
        if created:
            query["created_at"] = created
        if self.disabled is not None:
            query["disabled"] = True if self.disabled else {"$ne": True}
        return query


def encode_cursor(uid: str) -> str:
    return base64.urlsafe_b64encode(uid.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadCursor("not a cursor from this API") from None


@dataclass
class ReconcileReport:
    mongodb_users: int = 0
    firebase_users: int = 0
    missing_in_firebase: list[str] = field(default_factory=list)
    missing_in_mongodb: list[str] = field(default_factory=list)
    differing: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    not_fixable: list[dict[str, str]] = field(default_factory=list)
    # Login-made users the app has not signed in with yet: neutral, not drift.
    pending_first_sign_in: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "mongodb_users": self.mongodb_users,
            "firebase_users": self.firebase_users,
            "missing_in_firebase": self.missing_in_firebase,
            "missing_in_mongodb": self.missing_in_mongodb,
            "differing": self.differing,
            "fixed": self.fixed,
            "not_fixable": self.not_fixable,
            "pending_first_sign_in": self.pending_first_sign_in,
            "consistent": not (self.missing_in_firebase or self.missing_in_mongodb or self.differing),
        }


Progress = Callable[[str, int], None]


class AdminService:
    def __init__(
        self,
        users: UserStore,
        devices: DeviceStore,
        firebase: FirebaseAuth,
        audit: AuditLog,
        partners: Mapping[str, Partner],
    ) -> None:
        self._users = users
        self._devices = devices
        self._firebase = firebase
        self._audit = audit
        self._partners = partners

    # --- reading -------------------------------------------------------------------------
    def _tenant(self, partner_id: str | None) -> str | None:
        partner = self._partners.get(partner_id or "")
        return partner.config.tenant_id if partner is not None else None

    async def list_users(self, filters: UserFilter, cursor: str | None, limit: int) -> dict[str, Any]:
        query = filters.query()
        total = await self._users.collection.count_documents(query)
        page_query = (
            {**query, "uid": {**query.get("uid", {}), "$gt": decode_cursor(cursor)}} if cursor else query
        )
        limit = max(1, min(limit, MAX_PAGE))
        users = [
            u
            async for u in self._users.collection.find(page_query, {"_id": False}).sort("uid", 1).limit(limit)
        ]
        next_cursor = encode_cursor(users[-1]["uid"]) if len(users) == limit else None
        return {"users": users, "total": total, "next_cursor": next_cursor}

    async def with_verdicts(self, users: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each MongoDB user with its Firebase record and verdict (one Firebase call per 100 users)."""
        by_tenant: dict[str | None, list[str]] = {}
        for user in users:
            by_tenant.setdefault(self._tenant(user["partner"]), []).append(user["uid"])
        records = {}
        for tenant, uids in by_tenant.items():
            records.update(await self._firebase.get_users(uids, tenant))
        rows = []
        for user in users:
            mongodb, firebase = mongodb_view(user), firebase_view(records.get(user["uid"]))
            state = verdict(mongodb, firebase, pending=pending_first_sign_in(user))
            rows.append({"mongodb": mongodb, "firebase": firebase, "verdict": state})
        return rows

    async def _find(self, ref_text: str) -> tuple[dict[str, Any] | None, str, str | None]:
        """(MongoDB user or None, uid, tenant) for a reference."""
        ref = parse_user_ref(ref_text)
        found = await resolve_user_refs(self._users, [ref])
        user = found.get(ref.raw)
        if user is not None:
            return user, user["uid"], self._tenant(user["partner"])
        return None, ref.uid, self._tenant(ref.partner)

    async def _target(self, ref_text: str) -> Target:
        user, uid, tenant = await self._find(ref_text)
        record = await self._firebase.get_user(uid, tenant)
        if user is None and record is None:
            raise UserNotFound(ref_text)
        return Target(user, uid, tenant, record)

    async def _state(self, target: Target) -> dict[str, Any]:
        mongodb, firebase = mongodb_view(target.user), firebase_view(target.record)
        devices = len(await self._devices.of_user(target.uid))
        return {
            "uid": target.uid,
            "mongodb": mongodb,
            "firebase": firebase,
            "devices": devices,
            "verdict": verdict(mongodb, firebase, pending=pending_first_sign_in(target.user)),
        }

    async def verify(self, ref_text: str) -> dict[str, Any]:
        return await self._state(await self._target(ref_text))

    # --- acting --------------------------------------------------------------------------
    async def _act(
        self,
        action: str,
        ref_text: str,
        actor: str,
        request_id: str | None,
        change: Callable[[Target], Awaitable[None]],
    ) -> dict[str, Any]:
        target = await self._target(ref_text)
        before = await self._state(target)
        try:
            await change(target)
        except Exception as error:
            await self._audit.record(
                actor,
                action,
                target.uid,
                _snapshot(before),
                None,
                request_id,
                "partial",
                f"{type(error).__name__}: {error}",
            )
            log.warning(
                "admin action partly applied", extra={"action": action, "error": type(error).__name__}
            )
            raise PartlyApplied(
                f"{action} of {target.uid} was not completed in both stores: {type(error).__name__}"
            ) from error
        result = await self._verify_or_gone(ref_text)
        await self._audit.record(
            actor, action, target.uid, _snapshot(before), _snapshot(result) if result else None, request_id
        )
        return result or {"uid": target.uid, "deleted": True}

    async def _verify_or_gone(self, ref_text: str) -> dict[str, Any] | None:
        try:
            return await self.verify(ref_text)
        except UserNotFound:
            return None

    async def set_disabled(
        self, ref_text: str, disabled: bool, actor: str, request_id: str | None
    ) -> dict[str, Any]:
        async def change(target: Target) -> None:
            if target.user is not None:
                await self._users.collection.update_one({"uid": target.uid}, {"$set": {"disabled": disabled}})
                if disabled:
                    await self._users.revoke_sessions(target.uid)
            if target.record is not None:
                await self._firebase.update_user(target.uid, {"disabled": disabled}, target.tenant)
                if disabled:
                    await self._firebase.revoke_refresh_tokens(target.uid, target.tenant)

        return await self._act("disable" if disabled else "enable", ref_text, actor, request_id, change)

    async def revoke_sessions(self, ref_text: str, actor: str, request_id: str | None) -> dict[str, Any]:
        async def change(target: Target) -> None:
            if target.user is not None:
                await self._users.revoke_sessions(target.uid)
            await self._firebase.revoke_refresh_tokens(target.uid, target.tenant)

        return await self._act("revoke", ref_text, actor, request_id, change)

    async def replace_claims(
        self, ref_text: str, claims: dict[str, Any], actor: str, request_id: str | None
    ) -> dict[str, Any]:
        check_claims(claims)

        async def change(target: Target) -> None:
            if target.user is not None:
                await self._users.collection.update_one(
                    {"uid": target.uid}, {"$set": {"custom_claims": claims}}
                )
            if target.record is not None:
                await self._firebase.set_custom_claims(target.uid, claims or None, target.tenant)

        return await self._act("replace-claims", ref_text, actor, request_id, change)

    async def delete(self, ref_text: str, actor: str, request_id: str | None) -> dict[str, Any]:
        async def change(target: Target) -> None:
            await self._firebase.delete_user(target.uid, target.tenant)
            await self._devices.delete_user_devices(target.uid)
            if target.user is not None:
                await self._users.delete(target.uid)

        return await self._act("delete", ref_text, actor, request_id, change)

    # --- reconcile -----------------------------------------------------------------------
    async def reconcile(self, *, fix: bool, actor: str, progress: Progress | None = None) -> ReconcileReport:
        """Walk Firebase (pages of 1000, every tenant of a partner) and MongoDB; report users missing
        on either side or differing. With fix: MongoDB is the source of truth — missing Firebase
        users are created and differing ones updated; a Firebase-only user gets a MongoDB record
        when its uid is `{partner}:{external_id}` of a configured partner."""
        report = ReconcileReport()
        firebase: dict[str, dict[str, Any]] = {}
        tenants = {None} | {p.config.tenant_id for p in self._partners.values() if p.config.tenant_id}
        for tenant in tenants:
            page_token: str | None = None
            while True:
                page, page_token = await self._firebase.list_users_page(page_token, tenant)
                for record in page:
                    firebase[record.uid] = firebase_view(record) or {}
                report.firebase_users += len(page)
                if progress:
                    progress("firebase", report.firebase_users)
                if not page_token:
                    break
        async for user in self._users.collection.find({}, {"_id": False}).sort("uid", 1):
            report.mongodb_users += 1
            if progress and report.mongodb_users % 100 == 0:
                progress("mongodb", report.mongodb_users)
            await self._reconcile_user(user, firebase.pop(user["uid"], None), fix, actor, report)
        if progress:
            progress("mongodb", report.mongodb_users)
        prefixes = tuple(f"{partner_id}:" for partner_id in self._partners)
        for uid, view in sorted(firebase.items()):
            if uid.startswith(prefixes):  # other Firebase users of the project are not bridge's
                report.missing_in_mongodb.append(uid)
                if fix:
                    await self._adopt_firebase_user(uid, view, actor, report)
        return report

    async def _reconcile_user(
        self,
        user: dict[str, Any],
        record: dict[str, Any] | None,
        fix: bool,
        actor: str,
        report: ReconcileReport,
    ) -> None:
        uid, tenant = user["uid"], self._tenant(user["partner"])
        mongodb = mongodb_view(user)
        if record is None and pending_first_sign_in(user):
            report.pending_first_sign_in.append(uid)  # Firebase creates it when the app signs in
            return
        if record is None:
            report.missing_in_firebase.append(uid)
            if fix:
                fields = {k: user[k] for k in ("email", "display_name", "phone_number") if user.get(k)}
                await self._firebase.create_user(
                    uid, {**fields, "disabled": bool(user.get("disabled"))}, tenant
                )
                if user.get("custom_claims"):
                    await self._firebase.set_custom_claims(uid, user["custom_claims"], tenant)
                await self._users.mark_firebase_user_created(uid)
                await self._fixed(actor, "reconcile-create-firebase", uid, None, fields, report)
            return
        found = differences(mongodb, record)
        if not found:
            return
        report.differing.append({"uid": uid, "differences": found})
        if fix:
            update: dict[str, Any] = {}
            for difference in found:
                if difference["field"] in ("email", "disabled"):
                    update[difference["field"]] = difference["mongodb"]
                elif difference["field"] == "custom_claims":
                    await self._firebase.set_custom_claims(uid, difference["mongodb"] or None, tenant)
            if update:
                await self._firebase.update_user(uid, update, tenant)
            await self._fixed(actor, "reconcile-update-firebase", uid, found, update, report)

    async def _adopt_firebase_user(
        self, uid: str, view: dict[str, Any], actor: str, report: ReconcileReport
    ) -> None:
        partner_id, _, external_id = uid.partition(":")
        partner = self._partners[partner_id]
        if partner.uid_for_external(external_id) != uid:
            report.not_fixable.append({"uid": uid, "reason": "uid does not follow the partner's uid_format"})
            return
        fields = {k: view[k] for k in ("email", "display_name", "phone_number") if view.get(k)}
        fields["custom_claims"] = view.get("custom_claims") or {}
        fields["disabled"] = bool(view.get("disabled"))
        await self._users.create_account(partner_id, external_id, uid, fields)
        await self._fixed(actor, "reconcile-create-mongodb", uid, None, fields, report)

    async def _fixed(
        self, actor: str, action: str, uid: str, before: Any, after: Any, report: ReconcileReport
    ) -> None:
        await self._audit.record(actor, action, uid, before, after, None)
        report.fixed.append(uid)


def _snapshot(state: dict[str, Any]) -> dict[str, Any]:
    return {"mongodb": state.get("mongodb"), "firebase": state.get("firebase")}
