"""Accepting a notification: resolve who it is for, persist it with one delivery per device, then
let the worker send it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bridge.infra.json_value import JsonObject
from bridge.push.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_RECIPIENTS,
    Audience,
    NotificationRequest,
    fcm_message,
    payload_bytes,
)
from bridge.push.worker import DeliveryWorker
from bridge.store.devices import DeviceRecord, DeviceStore, token_hint
from bridge.store.outbox import Delivery, FcmMessage, Notification, Outbox, Recipient, new_notification_id
from bridge.store.user_refs import BadUserRef, parse_user_ref, resolve_user_refs
from bridge.store.users import UserQuery, UserStore


class PayloadTooLarge(ValueError):
    """The message is over FCM's payload limit."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What POST /v1/notifications answers: the id, how many recipients and devices, and the
    references that named no user."""

    id: str
    recipients: int
    devices: int
    unknown: list[str]

    def as_json(self) -> JsonObject:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Notifications:
    users: UserStore
    devices: DeviceStore
    outbox: Outbox
    worker: DeliveryWorker | None  # woken when new work is accepted

    async def accept(self, request: NotificationRequest, sender: str, partner: str | None = None) -> Accepted:
        """Persist the notification. Nothing is stored when the message is too large
        (PayloadTooLarge). With `partner` (a key bound to one partner), users of other partners
        are never reached: their references are unknown."""
        message = _checked_message(request)
        recipients = await self._recipients(request, partner)
        notification = Notification(
            new_notification_id(), datetime.now(UTC), sender, request.dry_run, message, recipients
        )
        deliveries = await self._deliveries(notification)
        await self.outbox.enqueue(notification, deliveries)
        if self.worker is not None:
            self.worker.wake()
        unknown = [r.ref for r in recipients if r.status == "unknown"]
        return Accepted(notification.id, len(recipients), len(deliveries), unknown)

    async def _recipients(self, request: NotificationRequest, partner: str | None) -> list[Recipient]:
        if request.recipients is not None:
            return await self._by_refs(request.recipients, partner)
        return await self._by_audience(request.audience or Audience(), partner)

    async def _deliveries(self, notification: Notification) -> list[Delivery]:
        """One delivery per device of each resolved recipient, numbered in recipient order."""
        uids = list(dict.fromkeys(r.uid for r in notification.recipients if r.uid))
        devices = await self.devices.of_users(uids)
        targets = [device for uid in uids for device in devices[uid]]
        return [_delivery(notification, n, device) for n, device in enumerate(targets)]

    async def _by_refs(self, raw_refs: list[str], partner: str | None) -> list[Recipient]:
        parsed, recipients = [], []
        for raw in dict.fromkeys(raw_refs):
            try:
                parsed.append(parse_user_ref(raw))
            except BadUserRef:
                recipients.append(Recipient(raw, None, "unknown"))
        found = await resolve_user_refs(self.users, parsed)
        for ref in parsed:
            user = found.get(ref.raw)
            if user is not None and partner is not None and user.partner != partner:
                user = None
            recipients.append(
                Recipient(ref.raw, user.uid, "resolved") if user else Recipient(ref.raw, None, "unknown")
            )
        return recipients

    async def _by_audience(self, audience: Audience, partner: str | None) -> list[Recipient]:
        since = audience.registered_since
        query = UserQuery(
            partner=partner or audience.partner or None,
            claims=audience.claims,
            created_from=since if since is None or since.tzinfo else since.replace(tzinfo=UTC),
        )
        uids = await self.users.uids_of_enabled(query, MAX_RECIPIENTS * 10)
        return [Recipient(f"users/{uid}", uid, "resolved") for uid in uids]


def _checked_message(request: NotificationRequest) -> FcmMessage:
    message = fcm_message(request)
    size = payload_bytes(message)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"the message is {size} bytes; FCM allows {MAX_PAYLOAD_BYTES}")
    return message


def _delivery(notification: Notification, number: int, device: DeviceRecord) -> Delivery:
    return Delivery(
        id=f"{notification.id}:{number:06d}",
        notification_id=notification.id,
        uid=device.uid,
        token=device.token,
        token_hint=token_hint(device.token),
        platform=device.platform,
        created_at=notification.created_at,
    )
