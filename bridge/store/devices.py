"""FCM registration tokens of users' devices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from bridge.store.mongo import Document, Store, record_from

DEVICES_COLLECTION = "devices"
DEFAULT_MAX_DEVICES_PER_USER = 10


def token_hint(token: str) -> str:
    """What reports and logs show of a registration token: its last 8 characters."""
    return "…" + token[-8:]


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One registration token and the user it belongs to."""

    token: str
    uid: str
    created_at: datetime
    last_seen_at: datetime
    platform: str | None = None
    app_id: str | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DeviceRecord:
        return record_from(cls, document, token="_id")


class DeviceStore(Store):
    """One document per registration token (`_id`): a token belongs to one user at a time, so a
    token registered by another user moves to that user."""

    collection_name = DEVICES_COLLECTION

    def __init__(
        self, database: AsyncDatabase[Document], max_per_user: int = DEFAULT_MAX_DEVICES_PER_USER
    ) -> None:
        super().__init__(database)
        self.max_per_user = max_per_user

    async def create_indexes(self) -> None:
        await self.collection.create_index(
            [("uid", ASCENDING), ("last_seen_at", DESCENDING)], name="uid_seen"
        )

    async def register(
        self, uid: str, token: str, platform: str | None, app_id: str | None
    ) -> tuple[bool, str | None]:
        """Register (or refresh) a device: (True when the token was new to this user, the uid it
        moved from when another user had it). The user's oldest devices beyond the cap are
        dropped."""
        await self.ensure_indexes()
        now = datetime.now(UTC)
        before = await self.collection.find_one_and_update(
            {"_id": token},
            {
                "$set": {"uid": uid, "platform": platform, "app_id": app_id, "last_seen_at": now},
                "$setOnInsert": {"created_at": now},
            },
            upsert=True,
        )
        await self._enforce_cap(uid)
        previous = before.get("uid") if before is not None else None
        return previous != uid, (previous if previous not in (None, uid) else None)

    async def owner_of(self, token: str) -> str | None:
        """The uid that has this registration token now, if any."""
        device = await self.collection.find_one({"_id": token}, {"uid": True})
        return str(device["uid"]) if device is not None else None

    async def _enforce_cap(self, uid: str) -> None:
        excess = (
            self.collection.find({"uid": uid}, {"_id": True})
            .sort("last_seen_at", DESCENDING)
            .skip(self.max_per_user)
        )
        stale = [device["_id"] async for device in excess]
        if stale:
            await self.collection.delete_many({"_id": {"$in": stale}, "uid": uid})

    async def remove(self, uid: str, token: str) -> bool:
        result = await self.collection.delete_one({"_id": token, "uid": uid})
        return result.deleted_count == 1

    async def prune(self, token: str, uid: str) -> None:
        """FCM said the token is dead: forget it (unless it has moved to someone else since)."""
        await self.collection.delete_one({"_id": token, "uid": uid})

    async def of_user(self, uid: str) -> list[DeviceRecord]:
        cursor = self.collection.find({"uid": uid}).sort("last_seen_at", DESCENDING)
        return [DeviceRecord.from_document(device) async for device in cursor]

    async def of_users(self, uids: list[str]) -> dict[str, list[DeviceRecord]]:
        devices: dict[str, list[DeviceRecord]] = {uid: [] for uid in uids}
        async for device in self.collection.find({"uid": {"$in": uids}}):
            devices[device["uid"]].append(DeviceRecord.from_document(device))
        return devices

    async def delete_user_devices(self, uid: str) -> int:
        result = await self.collection.delete_many({"uid": uid})
        return result.deleted_count


def public_device(device: DeviceRecord) -> dict[str, str | None]:
    return {
        "token": token_hint(device.token),
        "platform": device.platform,
        "app_id": device.app_id,
        "created_at": device.created_at.isoformat(),
        "last_seen_at": device.last_seen_at.isoformat(),
    }
