"""The outbox: accepted notifications and one delivery per (notification, device), in MongoDB.

Deliveries are claimed with a lease, so any number of bridge processes share the work and a
crashed process's claims return to the pool when their lease ends.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne

from bridge.database import Document, Store

NOTIFICATIONS_COLLECTION = "notifications"
DELIVERIES_COLLECTION = "deliveries"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivery_id: str
    state: str  # sent | failed | pruned
    error: str | None
    message_id: str | None
    attempts: int


def new_notification_id() -> str:
    return "ntf_" + secrets.token_hex(10)


class Outbox(Store):
    collection_name = NOTIFICATIONS_COLLECTION

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self.deliveries = database[DELIVERIES_COLLECTION]

    async def create_indexes(self) -> None:
        await self.deliveries.create_index(
            [("state", ASCENDING), ("lease_until", ASCENDING)], name="state_lease"
        )
        await self.deliveries.create_index("notification_id", name="notification_id")

    async def enqueue(self, notification: Document, deliveries: list[Document]) -> None:
        """Persist the notification and its deliveries before anyone is told it was accepted."""
        await self.ensure_indexes()
        await self.collection.insert_one(notification)
        try:
            if deliveries:
                await self.deliveries.insert_many(deliveries, ordered=False)
        except BaseException:
            await self.deliveries.delete_many({"notification_id": notification["_id"]})
            await self.collection.delete_one({"_id": notification["_id"]})
            raise

    async def claim(self, owner: str, limit: int, lease: timedelta) -> list[Document]:
        """Up to `limit` deliveries now owned by `owner`: pending ones, and ones whose lease ran out
        (their process died mid-send: they are sent again, so delivery is at least once)."""
        now = datetime.now(UTC)
        claimable = {"$or": [{"state": "pending"}, {"state": "sending", "lease_until": {"$lt": now}}]}
        ids = [d["_id"] async for d in self.deliveries.find(claimable, {"_id": True}).limit(limit)]
        if not ids:
            return []
        await self.deliveries.update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {"state": "sending", "lease_owner": owner, "lease_until": now + lease}},
        )
        return [
            d
            async for d in self.deliveries.find(
                {"_id": {"$in": ids}, "lease_owner": owner, "state": "sending"}
            )
        ]

    async def record(self, results: list[DeliveryResult]) -> None:
        if not results:
            return
        now = datetime.now(UTC)
        await self.deliveries.bulk_write(
            [
                UpdateOne(
                    {"_id": r.delivery_id},
                    {
                        "$set": {
                            "state": r.state,
                            "error": r.error,
                            "message_id": r.message_id,
                            "attempts": r.attempts,
                            "finished_at": now,
                        },
                        "$unset": {"lease_owner": "", "lease_until": ""},
                    },
                )
                for r in results
            ],
            ordered=False,
        )

    async def release(self, owner: str, delivery_ids: list[str]) -> None:
        """Give claimed but unsent deliveries back (clean shutdown)."""
        if delivery_ids:
            await self.deliveries.update_many(
                {"_id": {"$in": delivery_ids}, "lease_owner": owner, "state": "sending"},
                {"$set": {"state": "pending"}, "$unset": {"lease_owner": "", "lease_until": ""}},
            )

    async def notification(self, notification_id: str) -> Document | None:
        found: Document | None = await self.collection.find_one({"_id": notification_id})
        return found

    async def pending_count(self) -> int:
        count: int = await self.deliveries.count_documents({"state": {"$in": ["pending", "sending"]}})
        return count

    async def report(self, notification_id: str) -> dict[str, Any] | None:
        notification = await self.notification(notification_id)
        if notification is None:
            return None
        devices_by_uid: dict[str, list[dict[str, Any]]] = {}
        states: Counter[str] = Counter()
        async for delivery in self.deliveries.find({"notification_id": notification_id}).sort(
            "_id", ASCENDING
        ):
            states[delivery["state"]] += 1
            devices_by_uid.setdefault(delivery["uid"], []).append(
                {
                    "token": delivery["token_hint"],
                    "platform": delivery.get("platform"),
                    "state": delivery["state"],
                    "error": delivery.get("error"),
                    "message_id": delivery.get("message_id"),
                    "attempts": delivery.get("attempts", 0),
                }
            )
        recipients = []
        for recipient in notification["recipients"]:
            uid = recipient.get("uid")
            devices = devices_by_uid.get(uid, []) if uid else []
            status = (
                recipient["status"]
                if recipient["status"] != "resolved"
                else ("no_devices" if not devices else "devices")
            )
            recipients.append({**recipient, "status": status, "devices": devices})
        done = states["pending"] + states["sending"] == 0
        return {
            "id": notification_id,
            "created_at": notification["created_at"].isoformat(),
            "dry_run": notification["dry_run"],
            "state": "done" if done else "sending",
            "counts": {
                "recipients": len(recipients),
                "devices": sum(states.values()),
                "sent": states["sent"],
                "failed": states["failed"],
                "pruned": states["pruned"],
                "pending": states["pending"] + states["sending"],
                "no_devices": sum(1 for r in recipients if r["status"] == "no_devices"),
                "unknown": sum(1 for r in recipients if r["status"] == "unknown"),
            },
            "recipients": recipients,
        }
