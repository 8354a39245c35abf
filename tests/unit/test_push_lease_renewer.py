"""The delivery worker's lease renewer ends with its batch, even when the cancellation meant to end it
is swallowed by the store call it lands in (PyMongo's async driver can return normally from an
operation cancelled mid-flight). Before, the worker then waited for the renewer forever: a process
woken from a stall past its lease never sent again (test_push_faults' stalled-process test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.push.fcm import SendOutcome
from bridge.push.worker import DeliveryWorker
from bridge.store.outbox import Delivery, DeliveryResult, Notification

DELIVERY = Delivery("d-1", "n-1", "shop:ann", "device-token", "…oken", datetime.now(UTC))


class SwallowingOutbox:
    """One delivery to claim; `renew` swallows a cancellation and returns, as PyMongo can."""

    def __init__(self) -> None:
        self.renewing = asyncio.Event()
        self.recorded: list[DeliveryResult] = []
        self.renewals = 0
        self.swallowing = True

    async def claim(self, lease_id: str, limit: int, lease: timedelta) -> list[Delivery]:
        return [DELIVERY]

    async def renew(self, lease_id: str, delivery_ids: list[str], lease: timedelta) -> set[str]:
        self.renewals += 1
        self.renewing.set()
        try:
            await asyncio.Event().wait()  # a round trip that the batch outlasts
        except asyncio.CancelledError:
            if not self.swallowing:
                raise
        return set(delivery_ids)

    async def record(self, lease_id: str, results: list[DeliveryResult]) -> int:
        self.recorded += results
        return len(results)

    async def release(self, lease_id: str, delivery_ids: list[str]) -> None:
        return None

    async def notification(self, notification_id: str) -> Notification:
        return Notification(notification_id, datetime.now(UTC), "test", False, {"data": {}}, [])


class SenderWaitingForARenewal:
    """Answers once the renewer is inside `renew`, so the batch ends while a renewal is in flight."""

    def __init__(self, outbox: SwallowingOutbox) -> None:
        self._outbox = outbox

    async def send(self, message: Any, token: str, **options: Any) -> SendOutcome:
        await self._outbox.renewing.wait()
        return SendOutcome("sent", message_id="m-1")


async def test_a_batch_ends_though_the_renewer_swallowed_its_cancellation():
    outbox = SwallowingOutbox()
    worker = DeliveryWorker(
        outbox,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no device is pruned here
        SenderWaitingForARenewal(outbox),  # type: ignore[arg-type]
        concurrency=1,
        lease=timedelta(seconds=0.03),  # the renewer's first renewal comes after 10 ms
    )
    turn = asyncio.create_task(worker._turn())
    # Not wait_for: a turn stuck on its renewer does not end when cancelled either.
    await asyncio.wait({turn}, timeout=10)
    stuck = not turn.done()
    if stuck:  # end it (a cancellation that now goes through), so the failure is reported, not a hang
        outbox.swallowing = False
        turn.cancel()
        await asyncio.wait({turn})
    assert not stuck, "the turn was still waiting for its lease renewer after 10 s"
    assert turn.result() is True
    assert [(r.delivery_id, r.state) for r in outbox.recorded] == [("d-1", "sent")]
    assert outbox.renewals == 1
