"""Failed-login counters in MongoDB (fixed windows), shared by every bridge process.

Two ways to count. `reserve` takes one attempt out of each counter's window atomically *before*
the credential is checked (a password relayed to the partner): however many requests arrive at
once, in however many processes, at most `limit` of them get through per window; a success or an
error that said nothing about the password gives its attempt back (`release`). `refuse_if_locked`
+ `record_failure` check first and count failures afterwards, for checks bridge makes itself
(tokens): failures beyond the limit are answered 429, never 401.

Token logins check locks against an in-process board instead of reading MongoDB on every login
(that read was about a third of a login's CPU): a process learns a lock at once from its own
failures, and every other process's within LOCK_SYNC_SECONDS from a poll of the windows that are
locked. Failures themselves are counted in MongoDB, atomically, so the limit of 401s per window
is exact across processes; only a *valid* token from an address locked by another process may
pass during that second. A lock the board reports is confirmed in MongoDB before it refuses, so
`bridge unlock` takes effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from bridge.store.mongo import Document, Store


def normalised_username(username: str) -> str:
    """The form a username is counted under: surrounding whitespace stripped, NFKC, case-folded,
    so `" Ann"`, `"ann\n"` and fullwidth `ANN` share one counter. (What is relayed to the partner is
    what the user typed.)"""
    return unicodedata.normalize("NFKC", username.strip()).casefold().strip()


ATTEMPTS_COLLECTION = "login_attempts"
# How soon a process learns a lock another process made.
LOCK_SYNC_SECONDS = 1.0

log = logging.getLogger("bridge.attempts")


def user_key(partner: str, username: str) -> str:
    return f"user:{partner}:{normalised_username(username)}"


def address_key(partner: str, address: str) -> str:
    return f"address:{partner}:{address}"


def invalid_key(partner: str, address: str) -> str:
    return f"invalid:{partner}:{address}"


@dataclass(frozen=True, slots=True)
class Counter:
    """One thing to limit (a username at a partner, a client address): its key, the failures it
    may have within a window, and the window's length."""

    key: str
    limit: int
    window_seconds: int

    @property
    def id(self) -> str:
        # Usernames and addresses are personal data: only their hash is stored.
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()


class LockedOut(Exception):
    """Too many failed logins for a username or a client address; try again in `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked out for {retry_after} s")
        self.retry_after = retry_after


def _count_one(counter: Counter, now: datetime) -> list[dict[str, Any]]:
    """The update that counts one attempt: a live window counts up, an expired or missing one
    starts again; a window at its limit carries `locked_until`, which every process polls."""
    live = {"$gt": ["$expires_at", now]}
    window_end = now + timedelta(seconds=counter.window_seconds)
    return [
        {
            "$set": {
                "failures": {"$cond": [live, {"$add": ["$failures", 1]}, 1]},
                "expires_at": {"$cond": [live, "$expires_at", window_end]},
            }
        },
        {"$set": {"locked_until": {"$cond": [{"$gte": ["$failures", counter.limit]}, "$expires_at", None]}}},
    ]


class LoginAttempts(Store):
    collection_name = ATTEMPTS_COLLECTION

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self._known_locks: dict[str, datetime] = {}  # counter id → end of its locked window

    async def create_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")
        await self.collection.create_index("locked_until", name="locked_until")

    async def refuse_if_known_locked(self, counter: Counter) -> None:
        """Raise LockedOut when this process knows the counter's window is locked and MongoDB
        confirms it; no I/O for a counter the board does not hold (the common case)."""
        until = self._known_locks.get(counter.id)
        if until is None:
            return
        if until <= datetime.now(UTC):
            self._known_locks.pop(counter.id, None)
            return
        await self.refuse_if_locked([counter])
        self._known_locks.pop(counter.id, None)  # unlocked meanwhile (`bridge unlock`)

    async def sync_locks(self) -> None:
        """Learn the windows locked by any process; forget those that ended."""
        now = datetime.now(UTC)
        cursor = self.collection.find({"locked_until": {"$gt": now}}, {"locked_until": True})
        async for window in cursor:
            self._known_locks[window["_id"]] = window["locked_until"]
        for key in [key for key, until in self._known_locks.items() if until <= now]:
            del self._known_locks[key]

    async def keep_locks_synced(self, stop: asyncio.Event, interval: float = LOCK_SYNC_SECONDS) -> None:
        """Runs until `stop` is set; a failed poll keeps what the board knows. (Stopped by an event,
        not by cancelling: a cancellation that lands inside the driver may come back as one of
        its errors, which this loop must survive.)"""
        failing = False
        while not stop.is_set():
            try:
                await self.sync_locks()
                failing = False
            except Exception as error:  # MongoDB away: logins fail on their own; keep polling
                if not failing:
                    log.warning("could not read login locks", extra={"error": type(error).__name__})
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    def _learn(self, window: dict[str, Any], limit: int) -> None:
        if window["failures"] >= limit:
            self._known_locks[window["_id"]] = window["expires_at"]

    async def refuse_if_locked(self, counters: list[Counter]) -> None:
        """Raise LockedOut when any counter has used up its window's failures."""
        if not counters:
            return
        now = datetime.now(UTC)
        limits = {counter.id: counter.limit for counter in counters}
        ids = list(limits)
        # One counter (every login): a plain `_id` match, which mongod answers without planning a
        # query (IDHACK); expiry is checked here.
        cursor = self.collection.find({"_id": ids[0]} if len(ids) == 1 else {"_id": {"$in": ids}})
        async for window in cursor:
            if window["expires_at"] > now and window["failures"] >= limits[window["_id"]]:
                seconds = (window["expires_at"] - now).total_seconds()
                raise LockedOut(max(1, math.ceil(seconds)))

    async def reserve(self, counters: list[Counter]) -> None:
        """Take one attempt from each counter's window, or raise LockedOut (taking none) when a
        window has none left. Atomic per counter: a conditional upsert on `_id`."""
        taken: list[Counter] = []
        try:
            for counter in counters:
                await self._reserve_one(counter)
                taken.append(counter)
        except LockedOut:
            await self.release(taken)
            raise

    async def _reserve_one(self, counter: Counter) -> None:
        for _ in range(5):
            now = datetime.now(UTC)
            try:
                # Matches a window with room left, or an expired one; a full live window does not
                # match, and the upsert then collides with it on `_id`.
                await self.collection.update_one(
                    {
                        "_id": counter.id,
                        "$or": [{"expires_at": {"$lte": now}}, {"failures": {"$lt": counter.limit}}],
                    },
                    _count_one(counter, now),
                    upsert=True,
                )
                return
            except DuplicateKeyError:
                window: dict[str, Any] | None = await self.collection.find_one({"_id": counter.id})
                if window is not None and window["expires_at"] > now and window["failures"] >= counter.limit:
                    seconds = (window["expires_at"] - now).total_seconds()
                    raise LockedOut(max(1, math.ceil(seconds))) from None
                # Lost a race to create the window, or it just expired: try again.
        raise LockedOut(1)

    async def release(self, counters: list[Counter]) -> None:
        """Give back attempts taken by `reserve` (the check succeeded or never happened)."""
        for counter in counters:
            await self.collection.update_one(
                {"_id": counter.id, "failures": {"$gt": 0}}, {"$inc": {"failures": -1}}
            )

    async def record_failure(self, counter: Counter) -> int | None:
        """Count one failure (one atomic update: a live window counts up, an expired or missing
        one starts again). Returns the seconds until the window ends when this failure is beyond
        the limit: the caller answers 429 instead of revealing the outcome, so however many
        requests race past `refuse_if_locked`, at most `limit` failures are ever answered."""
        for attempt in range(3):
            now = datetime.now(UTC)
            try:
                window = await self.collection.find_one_and_update(
                    {"_id": counter.id},
                    _count_one(counter, now),
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                if attempt == 2:
                    raise
                continue  # two first failures raced to create the window; count again
            assert window is not None  # upsert with ReturnDocument.AFTER always returns one
            self._learn(window, counter.limit)
            if window["failures"] <= counter.limit:
                return None
            seconds: float = (window["expires_at"] - now).total_seconds()
            return max(1, math.ceil(seconds))
        raise AssertionError("unreachable")

    async def clear(self, counter: Counter) -> None:
        await self.collection.delete_one({"_id": counter.id})

    async def unlock(self, keys: list[str]) -> int:
        """Forget the counters with these keys (`bridge unlock`); how many were live."""
        ids = [Counter(key, 0, 0).id for key in keys]
        result = await self.collection.delete_many({"_id": {"$in": ids}})
        return int(result.deleted_count)
