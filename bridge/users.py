"""The user store: one MongoDB collection of users keyed by (partner, external_id) and by uid."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from bridge.identity import ExternalIdentity

log = logging.getLogger("bridge.users")

USERS_COLLECTION = "users"
# Fields returned to clients; MongoDB's _id stays internal.
_PUBLIC_PROJECTION = {"_id": False}


class UserStore:
    """Owns the `users` collection and its indexes."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._database = database
        self._users: AsyncCollection[dict[str, Any]] = database[USERS_COLLECTION]
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()

    async def ensure_indexes(self) -> None:
        """Create the unique indexes the race-safe upsert relies on (idempotent, once per process)."""
        if self._indexes_ready:
            return
        async with self._index_lock:
            if self._indexes_ready:
                return
            await self._users.create_index(
                [("partner", ASCENDING), ("external_id", ASCENDING)],
                unique=True,
                name="partner_external_id",
            )
            await self._users.create_index("uid", unique=True, name="uid")
            self._indexes_ready = True

    async def ping(self) -> None:
        await self._database.command("ping")

    async def record_login(
        self,
        identity: ExternalIdentity,
        uid: str,
        claims: Mapping[str, Any],
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Create the user on first login, refresh the profile on later ones; one round trip.

        Concurrent first logins of one user are safe: with the unique index, MongoDB retries the
        losing upsert as an update, and a duplicate-key error that still escapes is retried here.
        """
        await self.ensure_indexes()
        now = now or datetime.now(UTC)
        profile: dict[str, Any] = {"claims": dict(claims), "updated_at": now, "last_login_at": now}
        if identity.email is not None:
            profile["email"] = identity.email
        if identity.display_name is not None:
            profile["display_name"] = identity.display_name
        update = {
            "$set": profile,
            "$setOnInsert": {
                "uid": uid,
                "partner": identity.partner,
                "external_id": identity.external_id,
                "created_at": now,
            },
            "$inc": {"login_count": 1},
        }
        key = {"partner": identity.partner, "external_id": identity.external_id}
        for attempt in (1, 2):
            try:
                user: dict[str, Any] | None = await self._users.find_one_and_update(
                    key,
                    update,
                    upsert=True,
                    projection=_PUBLIC_PROJECTION,
                    return_document=ReturnDocument.AFTER,
                )
                assert user is not None  # upsert with ReturnDocument.AFTER always returns one
                return user
            except DuplicateKeyError:
                if attempt == 2:
                    raise
                log.info("retrying a login upsert that lost a race", extra={"partner": identity.partner})
        raise AssertionError("unreachable")

    async def find_by_uid(self, uid: str) -> dict[str, Any] | None:
        user: dict[str, Any] | None = await self._users.find_one({"uid": uid}, _PUBLIC_PROJECTION)
        return user


def open_client(uri: str, timeout_ms: int) -> AsyncMongoClient[dict[str, Any]]:
    """A client that fails fast (timeout_ms) when MongoDB is down, so callers answer 503."""
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        appname="bridge",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms * 2,
    )


async def try_ensure_indexes(store: UserStore) -> None:
    """At start-up: create indexes if MongoDB answers; otherwise the first write will."""
    try:
        await store.ensure_indexes()
    except PyMongoError as error:
        log.warning(
            "mongodb not reachable at start-up; indexes will be created on first use",
            extra={"error": type(error).__name__},
        )


def public_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """The user record as JSON for clients (times as ISO 8601)."""
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in user.items()}
