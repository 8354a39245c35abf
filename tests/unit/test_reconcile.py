"""Reconcile (services.reconcile) with in-memory fakes of bridge's own stores and Firebase Auth: what
it reports, and what `fix` changes in each store (MongoDB is the source of truth)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from bridge.partners import Partner
from bridge.partners.config import JwtPartnerConfig
from bridge.partners.jwks import TrustedKey
from bridge.partners.jwt_token import JwtVerifier, SingleKey
from bridge.services.reconcile import Reconciliation
from bridge.store.users import AccountFields, UserRecord


def partner(partner_id: str, **settings: Any) -> Partner:
    config = JwtPartnerConfig.model_validate(
        {"kind": "jwt", "secret_env": "UNUSED", "issuer": "i", "audience": "a", "algorithms": ["HS256"]}
        | settings
    )
    key = SingleKey(TrustedKey(None, b"k" * 64, frozenset({"HS256"})))
    return Partner(partner_id, config, JwtVerifier(partner_id, config, key))


def firebase_record(uid: str, email: str | None = None, disabled: bool = False, **claims: Any) -> Any:
    """What firebase-admin's list_users yields, as much of it as bridge reads."""
    return SimpleNamespace(
        uid=uid,
        email=email,
        display_name=None,
        phone_number=None,
        disabled=disabled,
        custom_claims=claims or None,
        user_metadata=SimpleNamespace(creation_timestamp=None, last_sign_in_timestamp=None),
        provider_data=[],
        tenant_id=None,
    )


@dataclass
class FakeFirebase:
    pages: dict[str | None, list[Any]]
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def list_users_page(self, page_token: str | None, tenant: str | None) -> tuple[list[Any], None]:
        return self.pages.get(tenant, []), None

    async def create_user(self, uid: str, fields: dict[str, Any], tenant: str | None) -> bool:
        self.calls.append(("create", uid, fields, tenant))
        return True

    async def set_custom_claims(self, uid: str, claims: dict[str, Any] | None, tenant: str | None) -> None:
        self.calls.append(("claims", uid, claims, tenant))

    async def update_user(self, uid: str, fields: dict[str, Any], tenant: str | None) -> None:
        self.calls.append(("update", uid, fields, tenant))


@dataclass
class FakeUsers:
    users: list[UserRecord]
    created: list[tuple[str, str, str, AccountFields]] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)

    async def every_user(self) -> Any:
        for user in sorted(self.users, key=lambda u: u.uid):
            yield user

    async def mark_firebase_user_created(self, uid: str) -> None:
        self.marked.append(uid)

    async def create_account(self, partner: str, external_id: str, uid: str, fields: AccountFields) -> Any:
        self.created.append((partner, external_id, uid, fields))


@dataclass
class FakeAudit:
    entries: list[Any] = field(default_factory=list)

    async def record(self, entry: Any) -> None:
        self.entries.append(entry)


PARTNERS = {"acme": partner("acme"), "corp": partner("corp", tenant_id="corp-tenant")}
USERS = [
    UserRecord("acme:same", "acme", "same", email="s@acme.test", custom_claims={}),
    UserRecord("acme:mail", "acme", "mail", email="new@acme.test", custom_claims={"role": "admin"}),
    UserRecord("corp:gone", "corp", "gone", email="g@corp.test", disabled=True, custom_claims={"a": 1}),
    UserRecord("acme:fresh", "acme", "fresh", firebase_user="on_sign_in", login_count=1),
]
FIREBASE = {
    None: [
        firebase_record("acme:same", "s@acme.test"),
        firebase_record("acme:mail", "old@acme.test"),
        firebase_record("acme:orphan", "o@acme.test", role="x"),
        firebase_record("someone-else"),
    ],
}


def reconciliation(fix: bool) -> tuple[Reconciliation, FakeUsers, FakeFirebase, FakeAudit]:
    users, firebase, audit = FakeUsers(list(USERS)), FakeFirebase(FIREBASE), FakeAudit()
    return Reconciliation(users, firebase, audit, PARTNERS, fix, "cli:ops"), users, firebase, audit


async def test_a_dry_run_reports_each_kind_of_difference_and_changes_nothing():
    run, users, firebase, audit = reconciliation(fix=False)
    seen: list[tuple[str, int]] = []
    report = await run.run(lambda store, count: seen.append((store, count)))
    assert (report.mongodb_users, report.firebase_users) == (4, 4)
    assert report.missing_in_firebase == ["corp:gone"]
    assert report.missing_in_mongodb == ["acme:orphan"]  # someone-else is not a partner's user
    assert report.pending_first_sign_in == ["acme:fresh"]
    assert [drift.as_json() for drift in report.differing] == [
        {
            "uid": "acme:mail",
            "differences": [
                {"field": "email", "mongodb": "new@acme.test", "firebase": "old@acme.test"},
                {"field": "custom_claims", "mongodb": {"role": "admin"}, "firebase": {}},
            ],
        }
    ]
    assert report.as_json()["consistent"] is False
    assert seen[-1] == ("mongodb", 4)
    assert (firebase.calls, users.created, users.marked, audit.entries) == ([], [], [], [])


async def test_fix_makes_firebase_follow_mongodb_and_adopts_partner_users_it_lacks():
    run, users, firebase, audit = reconciliation(fix=True)
    report = await run.run()
    assert firebase.calls == [
        ("claims", "acme:mail", {"role": "admin"}, None),
        ("update", "acme:mail", {"email": "new@acme.test"}, None),
        ("create", "corp:gone", {"email": "g@corp.test", "disabled": True}, "corp-tenant"),
        ("claims", "corp:gone", {"a": 1}, "corp-tenant"),
    ]
    assert users.marked == ["corp:gone"]
    assert users.created == [
        ("acme", "orphan", "acme:orphan", AccountFields(email="o@acme.test", custom_claims={"role": "x"}))
    ]
    assert report.fixed == ["acme:mail", "corp:gone", "acme:orphan"]
    assert [(e.actor, e.action, e.target) for e in audit.entries] == [
        ("cli:ops", "reconcile-update-firebase", "acme:mail"),
        ("cli:ops", "reconcile-create-firebase", "corp:gone"),
        ("cli:ops", "reconcile-create-mongodb", "acme:orphan"),
    ]
