"""The delivery worker: claims deliveries from the outbox and sends them with bounded concurrency.

Clean shutdown: it stops claiming, lets sends already under way finish and be recorded, and gives
claimed-but-unsent deliveries back, so a restarted bridge sends each remaining device exactly once.
After a crash, deliveries that were being sent return when their lease ends and are sent again:
delivery is at least once (a device may get a message twice if the process died mid-send).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from pymongo.errors import PyMongoError

from bridge.database import Document
from bridge.metrics import FCM_SENDS, OUTBOX_DEPTH
from bridge.push.devices import DeviceStore
from bridge.push.fcm import FcmSender, SendOutcome
from bridge.push.outbox import DeliveryResult, Outbox

log = logging.getLogger("bridge.push")


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        devices: DeviceStore,
        sender: FcmSender,
        *,
        concurrency: int = 50,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._outbox = outbox
        self._devices = devices
        self._sender = sender
        self._slots = asyncio.Semaphore(concurrency)
        self._record_every = max(1, concurrency)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._owner = f"worker-{secrets.token_hex(6)}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._messages: dict[str, tuple[dict[str, Any], bool]] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="push-delivery")

    def wake(self) -> None:
        """New work was accepted: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                batch = await self._outbox.claim(self._owner, self._batch_size, self._lease)
            except PyMongoError as error:
                log.warning("outbox unavailable", extra={"error": type(error).__name__})
                batch = []
            if batch:
                await self._deliver(batch)
                continue
            await self._measure_depth()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    async def _measure_depth(self) -> None:
        with contextlib.suppress(PyMongoError):
            OUTBOX_DEPTH.set(await self._outbox.pending_count())

    async def _deliver(self, batch: list[Document]) -> None:
        """Send a claimed batch; results are written as they come in (every `record_every`), so
        little is sent twice if the process dies mid-batch."""
        done: list[tuple[Document, DeliveryResult]] = []
        unsent: list[str] = []
        lock = asyncio.Lock()

        async def flush() -> None:
            async with lock:
                chunk = done[:]
                del done[:]
                await self._record(chunk)

        async def deliver(delivery: Document) -> None:
            result = await self._send(delivery)
            if result is None:
                unsent.append(delivery["_id"])
                return
            done.append((delivery, result))
            if len(done) >= self._record_every:
                await flush()

        await asyncio.gather(*(deliver(delivery) for delivery in batch))
        await flush()
        try:
            await self._outbox.release(self._owner, unsent)
        except PyMongoError as error:
            log.warning("could not release deliveries", extra={"error": type(error).__name__})

    async def _record(self, chunk: list[tuple[Document, DeliveryResult]]) -> None:
        try:
            await self._outbox.record([result for _, result in chunk])
            for delivery, result in chunk:
                if result.state == "pruned":
                    await self._devices.prune(delivery["token"], delivery["uid"])
        except PyMongoError as error:
            # The lease runs out and these deliveries are claimed again: at least once.
            log.warning("could not record deliveries", extra={"error": type(error).__name__})

    async def _send(self, delivery: Document) -> DeliveryResult | None:
        async with self._slots:
            if self._stopping:
                return None
            found = await self._message(delivery["notification_id"])
            if found is None:
                return DeliveryResult(delivery["_id"], "failed", "NOTIFICATION_MISSING", None, 0)
            message, dry_run = found
            outcome: SendOutcome = await self._sender.send(message, delivery["token"], dry_run=dry_run)
        FCM_SENDS.labels(outcome.state).inc()
        if outcome.state != "sent":
            log.info(
                "push not delivered",
                extra={
                    "notification": delivery["notification_id"],
                    "state": outcome.state,
                    "error": outcome.error,
                },
            )
        return DeliveryResult(
            delivery["_id"], outcome.state, outcome.error, outcome.message_id, outcome.attempts
        )

    async def _message(self, notification_id: str) -> tuple[dict[str, Any], bool] | None:
        cached = self._messages.get(notification_id)
        if cached is None:
            notification = await self._outbox.notification(notification_id)
            if notification is None:
                return None
            cached = (notification["message"], notification["dry_run"])
            if len(self._messages) > 1000:
                self._messages.clear()
            self._messages[notification_id] = cached
        return cached
