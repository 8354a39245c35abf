"""The delivery worker: claims deliveries from the outbox and sends them with bounded concurrency.

It never dies: every error while claiming, sending or recording is caught (per delivery and per
loop turn), logged once when the worker starts failing (and once when it recovers), and retried
with capped exponential backoff; a supervisor restarts the loop if it ever exits, and measures the
outbox meanwhile. `status()` is what /readyz shows as `checks.push_worker`.

Leases are fenced: each claim gets its own lease id; the worker claims only what it expects to
send within half a lease, renews the lease every third of it while working, checks before each
send that it still holds the lease (with a third of it to spare), and records each result with
an update that matches the lease holder. So while no process crashes or stalls past a lease,
each device gets a notification exactly once, whatever the number of processes.

Clean shutdown: it stops claiming, lets sends already under way finish and be recorded, and gives
claimed-but-unsent deliveries back, so a restarted bridge sends each remaining device exactly once.
After a crash, deliveries that were being sent return when their lease ends and are sent again:
delivery is at least once (a device may get a message twice if the process died mid-send).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.infra.backoff import Backoff
from bridge.infra.metrics import (
    FCM_SENDS,
    OUTBOX_DEPTH,
    OUTBOX_OLDEST_SECONDS,
    PUSH_LEASE_LOST,
    PUSH_WORKER_FAILING,
    PUSH_WORKER_RESTARTS,
)
from bridge.push.fcm import FcmSender, FcmUnavailable, SendOutcome
from bridge.store.devices import DeviceStore
from bridge.store.outbox import Delivery, DeliveryResult, FcmMessage, Outbox

log = logging.getLogger("bridge.push")

MAX_BACKOFF_SECONDS = 30.0
# Sends in a row without an answer from FCM (each after its own retries) that make the worker failing.
FCM_FAILING_AFTER = 3


def describe(error: BaseException) -> str:
    """An error for logs and /readyz: the type and, for bridge's own errors, their message (which
    never holds a secret); other libraries' messages may quote URLs or answers, so only the type."""
    if type(error).__module__.startswith("bridge."):
        return f"{type(error).__name__}: {error}"
    return type(error).__name__


@dataclass
class WorkerStatus:
    state: str = "starting"  # starting | ok | failing | stopped | off
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str | None = None

    def as_json(self) -> str | dict[str, str]:
        """`ok` (or `starting`, `stopped`), or {state: failing, since, reason}."""
        if self.state != "failing":
            return self.state
        return {"state": self.state, "since": self.since.isoformat(), "reason": self.reason or ""}


@dataclass
class _Lease:
    lease_id: str
    outstanding: set[str]  # claimed, result not recorded yet
    held_until: float  # monotonic; a conservative bound of MongoDB's lease_until
    lost: set[str] = field(default_factory=set)
    # Set when its batch is done: the renewer stops on it, since cancelling it alone is not enough
    # (PyMongo's async driver can swallow a cancellation that lands mid-operation and return).
    ended: bool = False


@dataclass
class _Batch:
    """A claimed batch while it is being sent."""

    done: list[tuple[Delivery, DeliveryResult]] = field(default_factory=list)  # results not recorded yet
    unsent: list[str] = field(default_factory=list)  # delivery ids to give back
    unavailable: list[FcmUnavailable] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        devices: DeviceStore,
        sender: FcmSender,
        *,
        concurrency: int = 50,
        batch_size: int = 1000,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(minutes=2),
        give_up: timedelta = timedelta(days=1),
    ) -> None:
        self._outbox = outbox
        self._devices = devices
        self._sender = sender
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._record_every = max(1, concurrency)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._lease_seconds = lease.total_seconds()
        self._give_up = give_up
        # Seconds per send, measured (moving average); until then, claim one send per slot.
        self._send_seconds: float | None = None
        self._owner = f"worker-{secrets.token_hex(6)}"
        self._claims = itertools.count(1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self._messages: dict[str, tuple[FcmMessage, bool]] = {}
        self._status = WorkerStatus()
        self._fcm_failing = False  # the failure is FCM's (or its OAuth endpoint's), not MongoDB's
        self._fcm_unanswered = 0  # sends in a row that FCM did not answer (after their retries)
        self._turn_backoff = Backoff(first=0.5, cap=min(MAX_BACKOFF_SECONDS, poll_seconds * 30))

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="push-supervisor")

    def wake(self) -> None:
        """New work was accepted: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            await self._supervisor
        self._status = WorkerStatus("stopped")

    def status(self) -> WorkerStatus:
        return self._status

    async def _supervise(self) -> None:
        """Run the loop; restart it (after a backoff) if it ever exits; measure the outbox."""
        restarts = Backoff(first=0.5, cap=MAX_BACKOFF_SECONDS)
        while not self._stopping:
            task = asyncio.create_task(self._run(), name="push-delivery")
            while not task.done():
                await asyncio.wait({task}, timeout=self._poll_seconds)
                await self._measure()
            if task.cancelled():
                error: BaseException | None = asyncio.CancelledError()
            else:
                error = task.exception()
            if self._stopping:
                break
            PUSH_WORKER_RESTARTS.inc()
            self._failing("the delivery loop exited", error or RuntimeError("returned"))
            await self._pause(restarts.next())

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for a stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested(), seconds)

    async def _stop_requested(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _measure(self) -> None:
        try:
            depth, oldest = await self._outbox.depth()
        except Exception as error:  # measuring must never stop anything
            log.debug("could not measure the outbox", extra={"error": describe(error)})
            return
        OUTBOX_DEPTH.set(depth)
        OUTBOX_OLDEST_SECONDS.set(oldest)

    def _failing(self, what: str, error: BaseException | str, *, fcm: bool = False) -> None:
        reason = f"{what}: {error if isinstance(error, str) else describe(error)}"
        self._fcm_failing = fcm
        if self._status.state != "failing" or self._status.reason != reason:
            log.warning("push worker failing", extra={"reason": reason})
            since = self._status.since if self._status.state == "failing" else datetime.now(UTC)
            self._status = WorkerStatus("failing", since=since, reason=reason)
            PUSH_WORKER_FAILING.set(1)

    def _ok(self) -> None:
        self._fcm_failing = False
        if self._status.state != "ok":
            if self._status.state == "failing":
                log.info("push worker recovered", extra={"failing_since": self._status.since.isoformat()})
            self._status = WorkerStatus("ok")
            PUSH_WORKER_FAILING.set(0)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                worked = await self._turn()
                # An FCM failure is cleared only by a send FCM answers (see _send) or an empty
                # outbox: a turn with nothing to claim (deliveries backing off) proves nothing.
                recovered = not self._fcm_failing or (not worked and (await self._outbox.depth())[0] == 0)
            except FcmUnavailable as error:
                self._failing("a delivery turn failed", error, fcm=True)
                await self._pause(self._turn_backoff.next())
                continue
            except Exception as error:  # the worker must never die
                self._failing("a delivery turn failed", error)
                await self._pause(self._turn_backoff.next())
                continue
            self._turn_backoff.reset()
            if recovered:
                self._ok()
            if worked:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)

    def claim_limit(self) -> int:
        """As many deliveries as the slots can send within half a lease, at the measured pace."""
        if self._send_seconds is None:
            return min(self._batch_size, self._concurrency)
        rounds = (self._lease_seconds / 2) / max(self._send_seconds, 0.001)
        return max(1, min(self._batch_size, int(self._concurrency * rounds)))

    async def _turn(self) -> bool:
        lease_id = f"{self._owner}-{next(self._claims)}"
        claimed_at = time.monotonic()
        batch = await self._outbox.claim(lease_id, self.claim_limit(), self._lease)
        if not batch:
            return False
        lease = _Lease(lease_id, {d.id for d in batch}, claimed_at + self._lease_seconds)
        await self._deliver(lease, batch)
        return True

    async def _deliver(self, lease: _Lease, batch: list[Delivery]) -> None:
        """Send a claimed batch while renewing its lease; results are written as they come in
        (every `record_every`), so little is sent twice if the process dies mid-batch. Raises
        FcmUnavailable (after giving the batch back) when no send could be attempted."""
        sending = _Batch()
        renewer = asyncio.create_task(self._keep_leased(lease), name="push-lease")
        try:
            await asyncio.gather(*(self._deliver_one(lease, sending, delivery) for delivery in batch))
            await self._flush(lease, sending, final=True)
        finally:
            lease.ended = True
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        try:
            await self._outbox.release(lease.lease_id, sending.unsent)
        except Exception as error:  # the lease runs out and they return anyway
            log.warning("could not give deliveries back", extra={"error": describe(error)})
        if sending.unavailable:
            raise sending.unavailable[0]

    async def _deliver_one(self, lease: _Lease, sending: _Batch, delivery: Delivery) -> None:
        try:
            result = await self._send(lease, delivery, abort=bool(sending.unavailable))
        except FcmUnavailable as error:
            sending.unavailable.append(error)
            result = None
        except Exception as error:  # one delivery never stops the others
            log.warning(
                "push delivery failed",
                extra={"notification": delivery.notification_id, "error": describe(error)},
            )
            result = self._retry_or_fail(delivery, "INTERNAL", 0)
        if result is None:
            sending.unsent.append(delivery.id)
            return
        sending.done.append((delivery, result))
        if len(sending.done) >= self._record_every:
            await self._flush(lease, sending)

    async def _flush(self, lease: _Lease, sending: _Batch, final: bool = False) -> None:
        """Record the results gathered so far (one writer at a time)."""
        async with sending.lock:
            chunk = sending.done[:]
            del sending.done[:]
            await self._record(lease, chunk, final)

    async def _keep_leased(self, lease: _Lease) -> None:
        """Renew the lease every third of it; forget deliveries another worker took over."""
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            if lease.ended:
                return
            started = time.monotonic()
            try:
                held = await self._outbox.renew(lease.lease_id, sorted(lease.outstanding), self._lease)
            except Exception as error:  # sends stop when the lease nears its end
                log.warning("could not renew a push lease", extra={"error": describe(error)})
                continue
            if lease.ended:
                return
            lost = lease.outstanding - held
            if lost:
                log.warning("push lease lost", extra={"deliveries": len(lost)})
                lease.lost |= lost
                lease.outstanding -= lost
            lease.held_until = started + self._lease_seconds

    def _holds(self, lease: _Lease, delivery_id: str) -> bool:
        spare = self._lease_seconds / 3
        return delivery_id not in lease.lost and time.monotonic() < lease.held_until - spare

    async def _record(self, lease: _Lease, chunk: list[tuple[Delivery, DeliveryResult]], final: bool) -> None:
        """Write results, fenced on the lease. MongoDB errors are retried with backoff while the
        lease holds; after that the deliveries return to the outbox (sent again: at least once)."""
        if not chunk:
            return
        # Dead tokens are removed before their result is written: once a report says done, they are gone.
        await self._prune_dead([delivery for delivery, result in chunk if result.state == "pruned"])
        written = await self._write_results(lease, [result for _, result in chunk], final)
        if written is None:
            return
        lease.outstanding -= {delivery.id for delivery, _ in chunk}
        if written < len(chunk):
            PUSH_LEASE_LOST.inc(len(chunk) - written)
            log.warning("push results fenced off: lease lost", extra={"deliveries": len(chunk) - written})

    async def _prune_dead(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            try:
                await self._devices.prune(delivery.token, delivery.uid)
            except Exception as error:  # pruned again at the next failed send
                log.warning("could not prune a device", extra={"error": describe(error)})

    async def _write_results(self, lease: _Lease, results: list[DeliveryResult], final: bool) -> int | None:
        """How many results were written (fenced on the lease); None when MongoDB could not take
        them while the lease held (or the worker is stopping): they will be sent again."""
        backoff = Backoff(first=0.2, cap=5.0)
        while True:
            try:
                return await self._outbox.record(lease.lease_id, results)
            except Exception as error:
                if time.monotonic() >= lease.held_until - 1 or (self._stopping and not final):
                    log.warning(
                        "could not record deliveries; they will be sent again",
                        extra={"deliveries": len(results), "error": describe(error)},
                    )
                    return None
                await asyncio.sleep(backoff.next())

    async def _send(self, lease: _Lease, delivery: Delivery, *, abort: bool) -> DeliveryResult | None:
        """The result of sending one delivery, or None when it was not sent (stopping, lease
        lost or about to end, FCM unavailable for this batch)."""
        async with self._slots:
            if self._stopping or abort:
                return None
            if not self._holds(lease, delivery.id):
                PUSH_LEASE_LOST.inc()
                return None
            found = await self._message(delivery.notification_id)
            if found is None:
                return DeliveryResult(delivery.id, "failed", "NOTIFICATION_MISSING", None, 0)
            message, dry_run = found
            started = time.monotonic()
            outcome: SendOutcome = await self._sender.send(
                message,
                delivery.token,
                dry_run=dry_run,
                still_held=lambda: self._holds(lease, delivery.id),
            )
            took = time.monotonic() - started
            self._send_seconds = took if self._send_seconds is None else 0.7 * self._send_seconds + 0.3 * took
        return self._result_of(delivery, outcome)

    def _result_of(self, delivery: Delivery, outcome: SendOutcome) -> DeliveryResult | None:
        """What a send comes to (None: abandoned, not ours now); FCM's health is judged on the way."""
        FCM_SENDS.labels(outcome.state).inc()
        if outcome.state == "abandoned":  # the lease was lost between two attempts: not ours now
            PUSH_LEASE_LOST.inc()
            return None
        if outcome.state not in ("sent", "retry"):
            log.info(
                "push not delivered",
                extra={
                    "notification": delivery.notification_id,
                    "state": outcome.state,
                    "error": outcome.error,
                },
            )
        if outcome.state == "retry":
            # No usable answer after the sender's own retries (unreachable, 5xx, 429): said at
            # once in /readyz, not at the end of a batch that may take minutes to go through.
            self._fcm_unanswered += 1
            if self._fcm_unanswered >= FCM_FAILING_AFTER:
                self._failing("no FCM send succeeded", outcome.error or "UNKNOWN", fcm=True)
            return self._retry_or_fail(delivery, outcome.error, outcome.attempts)
        self._fcm_unanswered = 0
        if self._fcm_failing:
            self._ok()
        return DeliveryResult(delivery.id, outcome.state, outcome.error, outcome.message_id, outcome.attempts)

    def _retry_or_fail(self, delivery: Delivery, error: str | None, attempts: int) -> DeliveryResult:
        """Back to the outbox with capped backoff, or failed once the give-up window has passed."""
        now = datetime.now(UTC)
        if now - delivery.created_at >= self._give_up:
            return DeliveryResult(delivery.id, "failed", error, None, attempts)
        retries = delivery.retries
        delay = min(MAX_BACKOFF_SECONDS * 10, self._poll_seconds * 2 ** min(retries, 20))
        return DeliveryResult(
            delivery.id, "retry", error, None, attempts, retry_at=now + timedelta(seconds=delay)
        )

    async def _message(self, notification_id: str) -> tuple[FcmMessage, bool] | None:
        cached = self._messages.get(notification_id)
        if cached is None:
            notification = await self._outbox.notification(notification_id)
            if notification is None:
                return None
            cached = (notification.message, notification.dry_run)
            if len(self._messages) > 1000:
                self._messages.clear()
            self._messages[notification_id] = cached
        return cached
