"""Accepting a notification (services.notifications) with in-memory fakes of bridge's own stores:
who it resolves to, one delivery per device in recipient order, nothing stored when refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bridge.push.messages import NotificationRequest
from bridge.services.notifications import Notifications, PayloadTooLarge
from bridge.store.devices import DeviceRecord
from bridge.store.outbox import Delivery, Notification
from bridge.store.users import UserQuery, UserRecord

SEEN = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class FakeUsers:
    users: list[UserRecord]

    async def find_any(self, uids: list[str], pairs: list[tuple[str, str]]) -> list[UserRecord]:
        return [u for u in self.users if u.uid in uids or (u.partner, u.external_id) in pairs]

    async def uids_of_enabled(self, query: UserQuery, limit: int) -> list[str]:
        partner = query.partner
        return [u.uid for u in self.users if not u.disabled and partner in (None, u.partner)][:limit]


@dataclass
class FakeDevices:
    tokens: dict[str, list[str]]

    async def of_users(self, uids: list[str]) -> dict[str, list[DeviceRecord]]:
        return {
            uid: [DeviceRecord(t, uid, SEEN, SEEN, "android") for t in self.tokens.get(uid, [])]
            for uid in uids
        }


@dataclass
class FakeOutbox:
    enqueued: list[tuple[Notification, list[Delivery]]] = field(default_factory=list)

    async def enqueue(self, notification: Notification, deliveries: list[Delivery]) -> None:
        self.enqueued.append((notification, deliveries))


@dataclass
class FakeWorker:
    woken: int = 0

    def wake(self) -> None:
        self.woken += 1


USERS = [
    UserRecord("acme:alice", "acme", "alice"),
    UserRecord("acme:bob", "acme", "bob"),
    UserRecord("shop:carol", "shop", "carol"),
    UserRecord("acme:dan", "acme", "dan", disabled=True),
]
DEVICES = {"acme:alice": ["a1", "a2"], "acme:bob": ["b1"], "shop:carol": ["c1"]}


@pytest.fixture
def parts() -> tuple[Notifications, FakeOutbox, FakeWorker]:
    outbox, worker = FakeOutbox(), FakeWorker()
    service = Notifications(FakeUsers(USERS), FakeDevices(DEVICES), outbox, worker)
    return service, outbox, worker


def request(**body: object) -> NotificationRequest:
    return NotificationRequest.model_validate({"data": {"k": "v"}, **body})


async def test_references_resolve_once_each_and_every_device_gets_one_numbered_delivery(parts):
    service, outbox, worker = parts
    refs = ["users/acme:bob", "acme:alice", "acme:bob", "nobody:x", " "]
    accepted = await service.accept(request(recipients=refs), sender="key-1")
    [(notification, deliveries)] = outbox.enqueued
    assert [(r.ref, r.uid, r.status) for r in notification.recipients] == [
        (" ", None, "unknown"),
        ("users/acme:bob", "acme:bob", "resolved"),
        ("acme:alice", "acme:alice", "resolved"),
        ("acme:bob", "acme:bob", "resolved"),
        ("nobody:x", None, "unknown"),
    ]
    assert [(d.id, d.uid, d.token) for d in deliveries] == [
        (f"{notification.id}:000000", "acme:bob", "b1"),
        (f"{notification.id}:000001", "acme:alice", "a1"),
        (f"{notification.id}:000002", "acme:alice", "a2"),
    ]
    assert all(d.created_at == notification.created_at and d.state == "pending" for d in deliveries)
    assert accepted.as_json() == {
        "id": notification.id,
        "recipients": 5,
        "devices": 3,
        "unknown": [" ", "nobody:x"],
    }
    assert (notification.sender, worker.woken) == ("key-1", 1)


async def test_a_key_bound_to_a_partner_never_reaches_another_partners_users(parts):
    service, outbox, _ = parts
    accepted = await service.accept(request(recipients=["shop:carol", "acme:alice"]), "key-2", partner="acme")
    [(_, deliveries)] = outbox.enqueued
    assert accepted.unknown == ["shop:carol"]
    assert {d.uid for d in deliveries} == {"acme:alice"}


async def test_an_audience_reaches_the_enabled_users_of_its_partner(parts):
    service, outbox, _ = parts
    await service.accept(request(audience={"partner": "acme"}), "key-3")
    [(notification, _)] = outbox.enqueued
    assert [r.ref for r in notification.recipients] == ["users/acme:alice", "users/acme:bob"]


async def test_a_message_over_fcms_limit_stores_nothing_and_wakes_no_one(parts):
    service, outbox, worker = parts
    with pytest.raises(PayloadTooLarge):
        await service.accept(request(recipients=["acme:alice"], data={"k": "v" * 5000}), "key-4")
    assert (outbox.enqueued, worker.woken) == ([], 0)
