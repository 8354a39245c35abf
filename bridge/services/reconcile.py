"""Reconciliation: walk Firebase and MongoDB, report users missing on either side or differing,
and (with fix) repair what can be repaired, MongoDB being the source of truth."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.infra.json_value import JsonObject
from bridge.partners import Partner, tenant_of
from bridge.services.verdict import Difference, FirebaseUser, differences
from bridge.store.audit import AuditEntry, AuditLog, Snapshot
from bridge.store.users import AccountFields, UserRecord, UserStore, profile

Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class Drift:
    uid: str
    differences: list[Difference]

    def as_json(self) -> JsonObject:
        return {"uid": self.uid, "differences": [d.as_json() for d in self.differences]}


@dataclass
class ReconcileReport:
    mongodb_users: int = 0
    firebase_users: int = 0
    missing_in_firebase: list[str] = field(default_factory=list)
    missing_in_mongodb: list[str] = field(default_factory=list)
    differing: list[Drift] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    not_fixable: list[dict[str, str]] = field(default_factory=list)
    # Login-made users the app has not signed in with yet: neutral, not drift.
    pending_first_sign_in: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (self.missing_in_firebase or self.missing_in_mongodb or self.differing)

    def as_json(self) -> JsonObject:
        differing = [drift.as_json() for drift in self.differing]
        return {**asdict(self), "differing": differing, "consistent": self.consistent}


@dataclass
class Reconciliation:
    """One run of reconcile; its steps add to `report`."""

    users: UserStore
    firebase: FirebaseAuth
    audit: AuditLog
    partners: Mapping[str, Partner]
    fix: bool
    actor: str
    report: ReconcileReport = field(default_factory=ReconcileReport)

    async def run(self, progress: Progress | None = None) -> ReconcileReport:
        """Walk Firebase (pages of 1000, every tenant of a partner) and MongoDB; report users missing
        on either side or differing. With fix: MongoDB is the source of truth — missing Firebase
        users are created and differing ones updated; a Firebase-only user gets a MongoDB record
        when its uid is `{partner}:{external_id}` of a configured partner."""
        report_progress = progress or (lambda store, count: None)
        firebase = await self._read_firebase(report_progress)
        await self._walk_mongodb(firebase, report_progress)
        await self._walk_firebase_only(firebase)
        return self.report

    async def _read_firebase(self, progress: Progress) -> dict[str, FirebaseUser]:
        """Every Firebase user of the project and of the partners' tenants, by uid."""
        found: dict[str, FirebaseUser] = {}
        tenants = {None} | {p.tenant_id for p in self.partners.values() if p.tenant_id}
        for tenant in tenants:
            page_token: str | None = None
            while True:
                page, page_token = await self.firebase.list_users_page(page_token, tenant)
                found.update((record.uid, FirebaseUser.from_record(record)) for record in page)
                self.report.firebase_users += len(page)
                progress("firebase", self.report.firebase_users)
                if not page_token:
                    break
        return found

    async def _walk_mongodb(self, firebase: dict[str, FirebaseUser], progress: Progress) -> None:
        """Check each MongoDB user against its Firebase user (taken out of `firebase`)."""
        async for user in self.users.every_user():
            self.report.mongodb_users += 1
            if self.report.mongodb_users % 100 == 0:
                progress("mongodb", self.report.mongodb_users)
            await self._check_user(user, firebase.pop(user.uid, None))
        progress("mongodb", self.report.mongodb_users)

    async def _walk_firebase_only(self, firebase: dict[str, FirebaseUser]) -> None:
        prefixes = tuple(f"{partner_id}:" for partner_id in self.partners)
        for uid, found in sorted(firebase.items()):
            if uid.startswith(prefixes):  # other Firebase users of the project are not bridge's
                self.report.missing_in_mongodb.append(uid)
                if self.fix:
                    await self._adopt_firebase_user(found)

    async def _check_user(self, user: UserRecord, firebase: FirebaseUser | None) -> None:
        if firebase is None and user.pending_first_sign_in:
            self.report.pending_first_sign_in.append(user.uid)  # Firebase creates it when the app signs in
        elif firebase is None:
            self.report.missing_in_firebase.append(user.uid)
            if self.fix:
                await self._create_in_firebase(user)
        elif found := differences(user, firebase):
            self.report.differing.append(Drift(user.uid, found))
            if self.fix:
                await self._update_firebase(user, found)

    async def _create_in_firebase(self, user: UserRecord) -> None:
        tenant = tenant_of(self.partners, user.partner)
        fields: JsonObject = {
            **profile(user.email or None, user.display_name or None, user.phone_number or None)
        }
        await self.firebase.create_user(user.uid, {**fields, "disabled": user.disabled}, tenant)
        if user.custom_claims:
            await self.firebase.set_custom_claims(user.uid, user.custom_claims, tenant)
        await self.users.mark_firebase_user_created(user.uid)
        await self._fixed("reconcile-create-firebase", user.uid, None, fields)

    async def _update_firebase(self, user: UserRecord, found: list[Difference]) -> None:
        tenant = tenant_of(self.partners, user.partner)
        update: dict[str, Any] = {}
        for difference in found:
            if difference.field in ("email", "disabled"):
                update[difference.field] = difference.mongodb
            elif difference.field == "custom_claims":
                claims = difference.mongodb if isinstance(difference.mongodb, dict) else None
                await self.firebase.set_custom_claims(user.uid, claims or None, tenant)
        if update:
            await self.firebase.update_user(user.uid, update, tenant)
        await self._fixed("reconcile-update-firebase", user.uid, [d.as_json() for d in found], update)

    async def _adopt_firebase_user(self, found: FirebaseUser) -> None:
        partner_id, _, external_id = found.uid.partition(":")
        if self.partners[partner_id].uid_for_external(external_id) != found.uid:
            self.report.not_fixable.append(
                {"uid": found.uid, "reason": "uid does not follow the partner's uid_format"}
            )
            return
        fields = AccountFields(
            email=found.email or None,
            display_name=found.display_name or None,
            phone_number=found.phone_number or None,
            custom_claims=found.custom_claims,
            disabled=found.disabled,
        )
        await self.users.create_account(partner_id, external_id, found.uid, fields)
        await self._fixed("reconcile-create-mongodb", found.uid, None, fields.document())

    async def _fixed(self, action: str, uid: str, before: Snapshot, after: Snapshot) -> None:
        await self.audit.record(AuditEntry(self.actor, action, uid, before, after))
        self.report.fixed.append(uid)
