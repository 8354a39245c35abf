"""The outbox: accepted notifications and one delivery per (notification, device), in MongoDB.

Deliveries are claimed with a lease, so any number of bridge processes share the work and a
crashed process's claims return to the pool when their lease ends.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from bridge.infra.json_value import JsonObject
from bridge.store.mongo import DURABLE, Document, Store, document_of, record_from

NOTIFICATIONS_COLLECTION = "notifications"
DELIVERIES_COLLECTION = "deliveries"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivery_id: str
    state: str  # sent | failed | pruned | retry (back to pending, tried again after retry_at)
    error: str | None
    message_id: str | None
    attempts: int
    retry_at: datetime | None = None


RecipientStatus = Literal["resolved", "unknown"]
# An FCM v1 message without its token (JSON, as push.messages builds it).
FcmMessage = JsonObject


@dataclass(frozen=True, slots=True)
class Recipient:
    """A user reference of a notification and the uid it resolved to (None: unknown)."""

    ref: str
    uid: str | None
    status: RecipientStatus


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    created_at: datetime
    sender: str
    dry_run: bool
    message: FcmMessage
    recipients: list[Recipient]

    def document(self) -> Document:
        return document_of(self, id="_id")

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Notification:
        recipients = [record_from(Recipient, recipient) for recipient in document["recipients"]]
        return record_from(cls, {**document, "recipients": recipients}, id="_id")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one device."""

    id: str
    notification_id: str
    uid: str
    token: str
    token_hint: str
    created_at: datetime
    platform: str | None = None
    state: str = "pending"  # pending | sending | sent | failed | pruned
    attempts: int = 0
    retries: int = 0
    error: str | None = None
    message_id: str | None = None

    def document(self) -> Document:
        return document_of(self, id="_id")

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Delivery:
        return record_from(cls, document, id="_id")


@dataclass(frozen=True, slots=True)
class DeviceReport:
    token: str
    platform: str | None
    state: str
    error: str | None
    message_id: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class RecipientReport:
    ref: str
    uid: str | None
    status: str  # unknown | no_devices | devices
    devices: list[DeviceReport]


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    recipients: int
    devices: int
    sent: int
    failed: int
    pruned: int
    pending: int
    no_devices: int
    unknown: int


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Where a notification stands, per recipient and device."""

    id: str
    created_at: str
    dry_run: bool
    state: str  # sending | done
    counts: DeliveryCounts
    recipients: list[RecipientReport]

    def as_json(self) -> JsonObject:
        return asdict(self)


def new_notification_id() -> str:
    return "ntf_" + secrets.token_hex(10)


class Outbox(Store):
    collection_name = NOTIFICATIONS_COLLECTION

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.deliveries = database[DELIVERIES_COLLECTION].with_options(write_concern=DURABLE)

    async def create_indexes(self) -> None:
        await self.deliveries.create_index(
            [("state", ASCENDING), ("lease_until", ASCENDING)], name="state_lease"
        )
        await self.deliveries.create_index("notification_id", name="notification_id")
        await self.deliveries.create_index(
            [("state", ASCENDING), ("created_at", ASCENDING)], name="state_age"
        )

    async def enqueue(self, notification: Notification, deliveries: list[Delivery]) -> None:
        """Persist the notification and its deliveries before anyone is told it was accepted."""
        await self.ensure_indexes()
        await self.collection.insert_one(notification.document())
        try:
            if deliveries:
                await self.deliveries.insert_many([d.document() for d in deliveries], ordered=False)
        except BaseException:
            await self.deliveries.delete_many({"notification_id": notification.id})
            await self.collection.delete_one({"_id": notification.id})
            raise

    async def claim(self, lease_id: str, limit: int, lease: timedelta) -> list[Delivery]:
        """Up to `limit` deliveries now leased to `lease_id` (unique per claim): pending ones that
        are due, and ones whose lease ran out (their process died or stalled mid-send: they are
        sent again, so delivery is at least once across crashes). Lease times are MongoDB's clock
        (`$$NOW`), so bridge hosts with skewed clocks agree on who holds what."""
        claimable = _claimable(datetime.now(UTC))
        ids = [d["_id"] async for d in self.deliveries.find(claimable, {"_id": True}).limit(limit)]
        if not ids:
            return []
        await self.deliveries.update_many(
            {"_id": {"$in": ids}, **claimable},
            [{"$set": {"state": "sending", "lease_owner": lease_id, "lease_until": _lease_end(lease)}}],
        )
        held = self.deliveries.find({"_id": {"$in": ids}, "lease_owner": lease_id, "state": "sending"})
        return [Delivery.from_document(d) async for d in held]

    async def renew(self, lease_id: str, delivery_ids: list[str], lease: timedelta) -> set[str]:
        """Extend the lease on those still held by `lease_id`; returns the ids still held."""
        if not delivery_ids:
            return set()
        held = {"_id": {"$in": delivery_ids}, "lease_owner": lease_id, "state": "sending"}
        result = await self.deliveries.update_many(held, [{"$set": {"lease_until": _lease_end(lease)}}])
        if result.matched_count == len(delivery_ids):
            return set(delivery_ids)
        return {d["_id"] async for d in self.deliveries.find(held, {"_id": True})}

    async def record(self, lease_id: str, results: list[DeliveryResult]) -> int:
        """Write results, each fenced on the lease: a result whose lease was lost (another worker
        holds the delivery now) is not written. Returns how many were written."""
        if not results:
            return 0
        now = datetime.now(UTC)
        updates = []
        for r in results:
            fence = {"_id": r.delivery_id, "lease_owner": lease_id, "state": "sending"}
            unlease = {"lease_owner": "", "lease_until": ""}
            if r.state == "retry":
                change: dict[str, Any] = {
                    "$set": {"state": "pending", "error": r.error, "not_before": r.retry_at},
                    "$inc": {"attempts": r.attempts, "retries": 1},
                    "$unset": unlease,
                }
            else:
                change = {
                    "$set": {
                        "state": r.state,
                        "error": r.error,
                        "message_id": r.message_id,
                        "finished_at": now,
                        "sent_by": lease_id.rsplit("-", 1)[0],
                    },
                    "$inc": {"attempts": r.attempts},
                    "$unset": unlease,
                }
            updates.append(UpdateOne(fence, change))
        result = await self.deliveries.bulk_write(updates, ordered=False)
        written: int = result.matched_count
        return written

    async def release(self, lease_id: str, delivery_ids: list[str]) -> None:
        """Give claimed but unsent deliveries back (clean shutdown, or a send that never started)."""
        if delivery_ids:
            await self.deliveries.update_many(
                {"_id": {"$in": delivery_ids}, "lease_owner": lease_id, "state": "sending"},
                {"$set": {"state": "pending"}, "$unset": {"lease_owner": "", "lease_until": ""}},
            )

    async def notification(self, notification_id: str) -> Notification | None:
        found: Document | None = await self.collection.find_one({"_id": notification_id})
        return Notification.from_document(found) if found is not None else None

    async def depth(self) -> tuple[int, float]:
        """(deliveries not finished: pending + leased, age in seconds of the oldest pending one)."""
        count: int = await self.deliveries.count_documents({"state": {"$in": ["pending", "sending"]}})
        oldest = await self.deliveries.find_one(
            {"state": {"$in": ["pending", "sending"]}}, {"created_at": True}, sort=[("created_at", ASCENDING)]
        )
        age = (datetime.now(UTC) - oldest["created_at"]).total_seconds() if oldest else 0.0
        return count, max(0.0, age)

    async def report(self, notification_id: str) -> DeliveryReport | None:
        notification = await self.notification(notification_id)
        if notification is None:
            return None
        devices_by_uid: dict[str, list[DeviceReport]] = {}
        states: Counter[str] = Counter()
        async for document in self.deliveries.find({"notification_id": notification_id}).sort(
            "_id", ASCENDING
        ):
            delivery = Delivery.from_document(document)
            states[delivery.state] += 1
            devices_by_uid.setdefault(delivery.uid, []).append(_device_report(delivery))
        recipients = [_recipient_report(r, devices_by_uid) for r in notification.recipients]
        return DeliveryReport(
            id=notification_id,
            created_at=notification.created_at.isoformat(),
            dry_run=notification.dry_run,
            state="sending" if states["pending"] + states["sending"] else "done",
            counts=_counts(states, recipients),
            recipients=recipients,
        )


def _device_report(delivery: Delivery) -> DeviceReport:
    return DeviceReport(
        delivery.token_hint,
        delivery.platform,
        delivery.state,
        delivery.error,
        delivery.message_id,
        delivery.attempts,
    )


def _recipient_report(
    recipient: Recipient, devices_by_uid: Mapping[str, list[DeviceReport]]
) -> RecipientReport:
    devices = devices_by_uid.get(recipient.uid, []) if recipient.uid else []
    status = recipient.status if recipient.status != "resolved" else ("devices" if devices else "no_devices")
    return RecipientReport(recipient.ref, recipient.uid, status, devices)


def _counts(states: Counter[str], recipients: list[RecipientReport]) -> DeliveryCounts:
    return DeliveryCounts(
        recipients=len(recipients),
        devices=sum(states.values()),
        sent=states["sent"],
        failed=states["failed"],
        pruned=states["pruned"],
        pending=states["pending"] + states["sending"],
        no_devices=sum(1 for r in recipients if r.status == "no_devices"),
        unknown=sum(1 for r in recipients if r.status == "unknown"),
    )


def _claimable(now: datetime) -> dict[str, Any]:
    return {
        "$or": [
            {"state": "pending", "not_before": {"$not": {"$gt": now}}},
            {"state": "sending", "$expr": {"$lt": ["$lease_until", "$$NOW"]}},
        ]
    }


def _lease_end(lease: timedelta) -> dict[str, Any]:
    return {"$add": ["$$NOW", int(lease.total_seconds() * 1000)]}
