"""Accepting a notification: resolve who it is for, persist it with one delivery per device, then
let the worker send it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.push.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_RECIPIENTS,
    Audience,
    NotificationRequest,
    fcm_message,
    payload_bytes,
)
from bridge.push.worker import DeliveryWorker
from bridge.store.devices import DeviceStore, token_hint
from bridge.store.outbox import Outbox, new_notification_id
from bridge.store.user_refs import BadUserRef, parse_user_ref, resolve_user_refs
from bridge.store.users import UserStore


class PayloadTooLarge(ValueError):
    """The message is over FCM's payload limit."""


class Notifications:
    def __init__(
        self, users: UserStore, devices: DeviceStore, outbox: Outbox, worker: DeliveryWorker | None
    ) -> None:
        self._users = users
        self._devices = devices
        self._outbox = outbox
        self._worker = worker

    async def accept(
        self, request: NotificationRequest, sender: str, partner: str | None = None
    ) -> dict[str, Any]:
        """Persist the notification; answers `{id, recipients, devices, unknown}`. Nothing is
        stored when the message is too large (PayloadTooLarge). With `partner` (a key bound to
        one partner), users of other partners are never reached: their references are unknown."""
        message = fcm_message(request)
        size = payload_bytes(message)
        if size > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(f"the message is {size} bytes; FCM allows {MAX_PAYLOAD_BYTES}")
        recipients = await (
            self._by_refs(request.recipients, partner)
            if request.recipients is not None
            else self._by_audience(request.audience or Audience(), partner)
        )
        uids = [r["uid"] for r in recipients if r.get("uid")]
        devices = await self._devices.of_users(uids)
        notification_id = new_notification_id()
        now = datetime.now(UTC)
        deliveries = [
            {
                "_id": f"{notification_id}:{n:06d}",
                "notification_id": notification_id,
                "uid": uid,
                "token": device["_id"],
                "token_hint": token_hint(device["_id"]),
                "platform": device.get("platform"),
                "state": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for n, (uid, device) in enumerate((uid, d) for uid in dict.fromkeys(uids) for d in devices[uid])
        ]
        await self._outbox.enqueue(
            {
                "_id": notification_id,
                "created_at": now,
                "sender": sender,
                "dry_run": request.dry_run,
                "message": message,
                "recipients": recipients,
            },
            deliveries,
        )
        if self._worker is not None:
            self._worker.wake()
        return {
            "id": notification_id,
            "recipients": len(recipients),
            "devices": len(deliveries),
            "unknown": [r["ref"] for r in recipients if r["status"] == "unknown"],
        }

    async def _by_refs(self, raw_refs: list[str], partner: str | None) -> list[dict[str, Any]]:
        parsed, recipients = [], []
        for raw in dict.fromkeys(raw_refs):
            try:
                parsed.append(parse_user_ref(raw))
            except BadUserRef:
                recipients.append({"ref": raw, "uid": None, "status": "unknown"})
        found = await resolve_user_refs(self._users, parsed)
        for ref in parsed:
            user = found.get(ref.raw)
            if user is not None and partner is not None and user.get("partner") != partner:
                user = None
            recipients.append(
                {
                    "ref": ref.raw,
                    "uid": user["uid"] if user else None,
                    "status": "resolved" if user else "unknown",
                }
            )
        return recipients

    async def _by_audience(self, audience: Audience, partner: str | None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"disabled": {"$ne": True}}
        if audience.partner or partner:
            query["partner"] = partner or audience.partner
        for name, value in audience.claims.items():
            query[f"claims.{name}"] = value
        if audience.registered_since:
            since = audience.registered_since
            query["created_at"] = {"$gte": since if since.tzinfo else since.replace(tzinfo=UTC)}
        cursor = self._users.collection.find(query, {"uid": True}).limit(MAX_RECIPIENTS * 10)
        return [{"ref": f"users/{u['uid']}", "uid": u["uid"], "status": "resolved"} async for u in cursor]
