"""Failed-login counters in MongoDB (fixed windows), shared by every bridge process."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.database import Store

ATTEMPTS_COLLECTION = "login_attempts"


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


class LoginAttempts(Store):
    collection_name = ATTEMPTS_COLLECTION

    async def create_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")

    async def refuse_if_locked(self, counters: list[Counter]) -> None:
        """Raise LockedOut when any counter has used up its window's failures."""
        now = datetime.now(UTC)
        limits = {counter.id: counter.limit for counter in counters}
        cursor = self.collection.find({"_id": {"$in": list(limits)}, "expires_at": {"$gt": now}})
        async for window in cursor:
            if window["failures"] >= limits[window["_id"]]:
                seconds = (window["expires_at"] - now).total_seconds()
                raise LockedOut(max(1, math.ceil(seconds)))

    async def record_failure(self, counters: list[Counter]) -> None:
        now = datetime.now(UTC)
        for counter in counters:
            # One atomic update: a live window counts up, an expired or missing one starts again.
            live = {"$gt": ["$expires_at", now]}
            await self.collection.update_one(
                {"_id": counter.id},
                [
                    {
                        "$set": {
                            "failures": {"$cond": [live, {"$add": ["$failures", 1]}, 1]},
                            "expires_at": {
                                "$cond": [
                                    live,
                                    "$expires_at",
                                    now + timedelta(seconds=counter.window_seconds),
                                ]
                            },
                        }
                    }
                ],
                upsert=True,
            )

    async def clear(self, counter: Counter) -> None:
        await self.collection.delete_one({"_id": counter.id})
