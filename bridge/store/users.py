"""The user store: one MongoDB collection of users keyed by (partner, external_id) and by uid."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from bridge.identity import ExternalIdentity
from bridge.infra.json_value import JsonObject
from bridge.store.mongo import Document, Store, record_from

log = logging.getLogger("bridge.users")

USERS_COLLECTION = "users"
# MongoDB's _id stays internal.
_PUBLIC_PROJECTION = {"_id": False}
PUBLIC_FIELDS = (
    "uid",
    "partner",
    "external_id",
    "email",
    "display_name",
    "phone_number",
    "disabled",
    "claims",
    "custom_claims",
    "created_at",
    "updated_at",
    "last_login_at",
    "login_count",
)


# The record's `firebase_user`: "on_sign_in" — made by a login; Firebase creates the Auth user when
# the app first signs in with the custom token (until then: "pending first sign-in", not drift);
# "on_first_login" — bridge creates it during the login and has not managed yet; "created" — bridge
# made it. Records without the field (accounts, older records) are expected in Firebase.
FIREBASE_USER_ON_SIGN_IN = "on_sign_in"
FIREBASE_USER_CREATED = "created"


Claims = JsonObject  # as the partner or an admin gave them


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as MongoDB keeps it. Absent optional fields are None; `custom_claims` is None when
    the record never had the field (only logins wrote it)."""

    uid: str
    partner: str
    external_id: str
    email: str | None = None
    display_name: str | None = None
    phone_number: str | None = None
    disabled: bool = False
    claims: Claims | None = None
    custom_claims: Claims | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_login_at: datetime | None = None
    login_count: int | None = None
    firebase_user: str | None = None
    sessions_revoked_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> UserRecord:
        return record_from(cls, document)

    @property
    def pending_first_sign_in(self) -> bool:
        """A login-made record whose Firebase user appears when the app first signs in. Records
        from before the `firebase_user` field count when only logins ever wrote them (no
        `custom_claims`: /v1/accounts, reconcile and admins always write that field, and they make
        the Firebase user)."""
        if self.firebase_user is not None:
            return self.firebase_user == FIREBASE_USER_ON_SIGN_IN
        return self.custom_claims is None and (self.login_count or 0) >= 1


@dataclass(frozen=True, slots=True)
class AccountFields:
    """What an account is created with, besides its key (partner, external id) and uid."""

    email: str | None = None
    display_name: str | None = None
    phone_number: str | None = None
    custom_claims: Claims = field(default_factory=dict)
    disabled: bool = False

    def profile(self) -> dict[str, str]:
        """Email, display name and phone number, those that are given."""
        return profile(self.email, self.display_name, self.phone_number)

    def firebase_fields(self) -> dict[str, str | bool]:
        """What the Firebase Auth user is created with."""
        return {**self.profile(), "disabled": self.disabled}

    def document(self) -> dict[str, Any]:
        """The fields as stored."""
        return {**self.profile(), "custom_claims": self.custom_claims, "disabled": self.disabled}


def profile(email: str | None, display_name: str | None, phone_number: str | None) -> dict[str, str]:
    """The profile fields that are not None, by name."""
    fields = {"email": email, "display_name": display_name, "phone_number": phone_number}
    return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Which users a listing or an audience means; every condition that is set must hold."""

    partner: str | None = None
    email: str | None = None
    uid_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    disabled: bool | None = None
    claims: Mapping[str, str | int | bool] = field(default_factory=dict)

    def filter(self) -> dict[str, Any]:
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
        for name, value in self.claims.items():
            query[f"claims.{name}"] = value
        return query


class UserDisabled(Exception):
    """The user exists and is disabled: no login, no session."""


class UidConflict(Exception):
    """The uid this user would get already belongs to another (partner, external id), e.g. two
    partners with `uid_format = "{external_id}"` and the same id."""

    def __init__(self, uid: str, owner_partner: str) -> None:
        super().__init__(f"uid {uid!r} already belongs to a user of partner {owner_partner!r}")
        self.uid = uid
        self.owner_partner = owner_partner


class UserStore(Store):
    """Owns the `users` collection and its indexes."""

    collection_name = USERS_COLLECTION

    async def create_indexes(self) -> None:
        """The unique indexes the race-safe upsert relies on."""
        await self.collection.create_index(
            [("partner", ASCENDING), ("external_id", ASCENDING)], unique=True, name="partner_external_id"
        )
        await self.collection.create_index("uid", unique=True, name="uid")

    async def ping(self) -> None:
        await self.database.command("ping")

    async def record_login(
        self,
        identity: ExternalIdentity,
        uid: str,
        claims: Mapping[str, Any],
        now: datetime | None = None,
        *,
        count: bool = True,
        firebase_user: str | None = None,
    ) -> UserRecord:
        """Create the user on first login, refresh the profile on later ones; one round trip.
        With `count`, the login is counted (login_count, last_login_at) in the same write; without,
        it is counted later by `count_login`, once the login has completed (sessions).

        Concurrent first logins of one user are safe: with the unique index, MongoDB retries the
        losing upsert as an update, and a duplicate-key error that still escapes is retried here.
        """
        await self.ensure_indexes()
        update = _login_update(identity, uid, claims, now or datetime.now(UTC), count, firebase_user)
        # A disabled user does not match, so the upsert collides with it instead of updating it.
        key = {"partner": identity.partner, "external_id": identity.external_id, "disabled": {"$ne": True}}
        for attempt in (1, 2):
            try:
                return await self._upsert(key, update)
            except DuplicateKeyError:
                await self.refuse_conflicts(identity.partner, identity.external_id, uid)
                if attempt == 2:
                    raise
                log.info("retrying a login upsert that lost a race", extra={"partner": identity.partner})
        raise AssertionError("unreachable")

    async def _upsert(self, key: Mapping[str, Any], update: Mapping[str, Any]) -> UserRecord:
        user: Document | None = await self.collection.find_one_and_update(
            key, update, upsert=True, projection=_PUBLIC_PROJECTION, return_document=ReturnDocument.AFTER
        )
        assert user is not None  # upsert with ReturnDocument.AFTER always returns one
        return UserRecord.from_document(user)

    async def refuse_conflicts(self, partner: str, external_id: str, uid: str) -> None:
        """Raise UserDisabled when this user exists and is disabled, UidConflict when `uid` belongs
        to someone else. One read; run before any write a refused login must not make."""
        found = self.collection.find(
            {"$or": [{"partner": partner, "external_id": external_id}, {"uid": uid}]},
            {"partner": True, "external_id": True, "uid": True, "disabled": True},
        )
        async for user in found:
            if (user.get("partner"), user.get("external_id")) == (partner, external_id):
                if user.get("disabled"):
                    raise UserDisabled(uid)
            elif user.get("uid") == uid:
                raise UidConflict(uid, str(user.get("partner")))

    async def count_login(self, uid: str, now: datetime | None = None) -> UserRecord | None:
        """Count a completed login of a user recorded by `record_login(count=False)`."""
        user: Document | None = await self.collection.find_one_and_update(
            {"uid": uid},
            {"$inc": {"login_count": 1}, "$set": {"last_login_at": now or datetime.now(UTC)}},
            projection=_PUBLIC_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )
        return _record(user)

    async def create_account(
        self, partner: str, external_id: str, uid: str, fields: AccountFields
    ) -> tuple[UserRecord, bool]:
        """The account for (partner, external_id), created with `fields` if it does not exist;
        (record, created). An existing account is returned unchanged."""
        await self.ensure_indexes()
        now = datetime.now(UTC)
        key = {"partner": partner, "external_id": external_id}
        insert = {
            "uid": uid,
            **key,
            "disabled": False,
            "claims": {},
            "custom_claims": {},
            "login_count": 0,
            "created_at": now,
            "updated_at": now,
            **fields.document(),
        }
        try:
            result = await self.collection.update_one(key, {"$setOnInsert": insert}, upsert=True)
            created = result.upserted_id is not None
        except DuplicateKeyError:
            created = False  # a concurrent request created it a moment ago, or the uid is taken
        user = await self.collection.find_one(key, _PUBLIC_PROJECTION)
        if user is None:
            await self.refuse_conflicts(partner, external_id, uid)
            raise UidConflict(uid, "?")  # pragma: no cover - the owner was deleted meanwhile
        return UserRecord.from_document(user), created

    async def mark_firebase_user_created(self, uid: str) -> None:
        """bridge has made (or found) this user's Firebase Auth user."""
        await self.collection.update_one({"uid": uid}, {"$set": {"firebase_user": FIREBASE_USER_CREATED}})

    async def delete(self, uid: str) -> bool:
        result = await self.collection.delete_one({"uid": uid})
        return result.deleted_count == 1

    async def revoke_sessions(self, uid: str, at: datetime | None = None) -> None:
        """Sessions that began before `at` stop working (bridge checks this on every ID token)."""
        await self.collection.update_one(
            {"uid": uid}, {"$set": {"sessions_revoked_at": at or datetime.now(UTC)}}
        )

    async def set_disabled(self, uid: str, disabled: bool) -> None:
        await self.collection.update_one({"uid": uid}, {"$set": {"disabled": disabled}})

    async def replace_custom_claims(self, uid: str, claims: Claims) -> None:
        await self.collection.update_one({"uid": uid}, {"$set": {"custom_claims": claims}})

    async def find_by_uid(self, uid: str) -> UserRecord | None:
        return _record(await self.collection.find_one({"uid": uid}, _PUBLIC_PROJECTION))

    async def find_by_external_id(self, partner: str, external_id: str) -> UserRecord | None:
        found = await self.collection.find_one(
            {"partner": partner, "external_id": external_id}, _PUBLIC_PROJECTION
        )
        return _record(found)

    async def find_any(self, uids: list[str], pairs: list[tuple[str, str]]) -> list[UserRecord]:
        """Users whose uid is in `uids` or whose (partner, external id) is in `pairs`; one query."""
        keys = [{"partner": partner, "external_id": external_id} for partner, external_id in pairs]
        cursor = self.collection.find({"$or": [{"uid": {"$in": uids}}, *keys]}, _PUBLIC_PROJECTION)
        return [UserRecord.from_document(user) async for user in cursor]

    async def count(self, query: UserQuery) -> int:
        total: int = await self.collection.count_documents(query.filter())
        return total

    async def page(self, query: UserQuery, after_uid: str | None, limit: int) -> list[UserRecord]:
        """Up to `limit` users matching `query`, in uid order, from after `after_uid`."""
        conditions = query.filter()
        if after_uid is not None:
            conditions["uid"] = {**conditions.get("uid", {}), "$gt": after_uid}
        cursor = self.collection.find(conditions, _PUBLIC_PROJECTION).sort("uid", 1).limit(limit)
        return [UserRecord.from_document(user) async for user in cursor]

    async def every_user(self) -> AsyncIterator[UserRecord]:
        """All users in uid order, streamed."""
        async for user in self.collection.find({}, _PUBLIC_PROJECTION).sort("uid", 1):
            yield UserRecord.from_document(user)

    async def uids_of_enabled(self, query: UserQuery, limit: int) -> list[str]:
        """The uids of up to `limit` enabled users matching `query`."""
        conditions = {**query.filter(), "disabled": {"$ne": True}}
        cursor = self.collection.find(conditions, {"uid": True}).limit(limit)
        return [user["uid"] async for user in cursor]


def _login_update(
    identity: ExternalIdentity,
    uid: str,
    claims: Mapping[str, Any],
    now: datetime,
    count: bool,
    firebase_user: str | None,
) -> Document:
    """The upsert of a login: the profile refreshed, the record's identity set on insert, and the
    login counted (or login_count started at 0 for `count_login` to count later)."""
    fresh: Document = {"claims": dict(claims), "updated_at": now}
    if count:
        fresh["last_login_at"] = now
    if identity.email is not None:
        fresh["email"] = identity.email
    if identity.display_name is not None:
        fresh["display_name"] = identity.display_name
    on_insert: Document = {
        "uid": uid,
        "partner": identity.partner,
        "external_id": identity.external_id,
        "disabled": False,
        "created_at": now,
    }
    if firebase_user:
        on_insert["firebase_user"] = firebase_user  # how the Firebase Auth user comes to be
    if not count:
        on_insert["login_count"] = 0
    update: Document = {"$set": fresh, "$setOnInsert": on_insert}
    if count:
        update["$inc"] = {"login_count": 1}
    return update


def _record(document: Mapping[str, Any] | None) -> UserRecord | None:
    return UserRecord.from_document(document) if document is not None else None


def public_user(user: UserRecord) -> JsonObject:
    """The user record as JSON for clients, in a stable field order (times as ISO 8601)."""
    public: JsonObject = {}
    for name in PUBLIC_FIELDS:
        value = getattr(user, name)
        if name == "custom_claims" and value is None:
            value = {}
        public[name] = value.isoformat() if isinstance(value, datetime) else value
    return public
