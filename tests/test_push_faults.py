"""Push under faults, with real processes: FCM and its OAuth endpoint down at start, a delivery loop
that exits, two bridge processes sharing the outbox with short leases and a slow FCM, and bridge
processes stopped cleanly (SIGTERM), killed (SIGKILL) or stalled (SIGSTOP) mid-send."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from contract import assert_documented, served_contract
from scrape import Scrape, scrape
from test_push import add_device, finished, make_user, push_settings, send, token

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys

from fcm_standin import FcmStandIn
from stack import free_port


async def eventually(check: Any, seconds: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {seconds} s"
        await asyncio.sleep(0.05)


@pytest.fixture
async def headers(db) -> dict[str, str]:
    _, key = await ApiKeys(db).create("push-backend", {"notifications:send", "accounts:write"})
    return {"Authorization": f"Bearer {key}"}


async def test_fcm_and_its_token_endpoint_down_at_start_then_up_every_device_gets_it(
    aiohttp_client, aiohttp_server, make_settings, keys, headers, db
):
    port = free_port()
    fcm = FcmStandIn(base_url=f"http://127.0.0.1:{port}")  # nothing listens there yet
    client = await aiohttp_client(create_app(push_settings(make_settings, fcm)))
    before = await scrape(client)
    uid = await make_user(client, keys, "down-at-start")
    tokens = [token("late", n) for n in range(3)]
    for registration_token in tokens:
        await add_device(client, headers, uid, registration_token)

    first = await send(client, headers, recipients=[uid], data={"k": "1"})

    async def failing() -> Any:
        ready = await client.get("/readyz")
        assert ready.status == 200  # logins still work: readiness holds
        state = (await ready.json())["checks"]["push_worker"]
        return state if isinstance(state, dict) else None

    state = await eventually(failing, what="push_worker failing")
    assert state["state"] == "failing" and "OAuth" in state["reason"] and state["since"]
    second = await send(client, headers, recipients=[uid], data={"k": "2"})  # still accepted

    async def measured() -> Any:
        metrics = await scrape(client)
        return metrics if metrics.value("bridge_outbox_depth") == 6 else None

    metrics = await eventually(measured, what="outbox depth 6")
    assert metrics.value("bridge_outbox_oldest_pending_seconds") > 0
    # Not exact: one failed fetch per worker turn, and how many turns (0.5 s, 1 s, 2 s … backoff)
    # fit before the depth is measured depends on the machine's load; at least one is certain.
    assert metrics.increase_since(before, "bridge_fcm_oauth_failures_total") >= 1
    assert await db.deliveries.count_documents({"state": {"$in": ["pending", "sending"]}}) == 6
    assert fcm.requests == []

    await aiohttp_server(fcm.app(), port=port)  # FCM and its token endpoint come up
    up_at = time.monotonic()

    for accepted in (first, second):
        report = await finished(client, headers, accepted["id"], seconds=60)
        assert report["counts"]["sent"] == 3 and report["counts"]["failed"] == 0
    assert Counter(fcm.sent_tokens()) == Counter(tokens * 2)  # each device once per notification
    print(f"fcm down at start: 6 deliveries, all sent {time.monotonic() - up_at:.1f} s after FCM came up")

    async def recovered() -> Any:
        return (await (await client.get("/readyz")).json())["checks"]["push_worker"] == "ok"

    await eventually(recovered, what="push_worker ok")

    async def emptied() -> bool:
        return (await scrape(client)).value("bridge_outbox_depth") == 0

    await eventually(emptied, what="outbox depth 0")


async def test_fcm_unreachable_after_retries_goes_back_to_the_outbox_not_failed(
    aiohttp_client, aiohttp_server, make_settings, keys, headers, db
):
    """FCM itself down (its token endpoint up): deliveries wait in the outbox instead of failing."""
    token_server = FcmStandIn()
    token_url = f"{str((await aiohttp_server(token_server.app())).make_url('')).rstrip('/')}/token"
    port = free_port()
    fcm = FcmStandIn(base_url=f"http://127.0.0.1:{port}")
    settings = push_settings(make_settings, fcm, fcm_token_url=token_url, push_max_attempts=2)
    client = await aiohttp_client(create_app(settings))
    uid = await make_user(client, keys, "fcm-down")
    await add_device(client, headers, uid, token("wait"))
    accepted = await send(client, headers, recipients=[uid], data={"k": "v"})

    async def retried() -> Any:
        delivery = await db.deliveries.find_one({"notification_id": accepted["id"]})
        return delivery if delivery and delivery.get("retries", 0) >= 1 else None

    delivery = await eventually(retried, what="a delivery put back for later")
    assert delivery["state"] in ("pending", "sending") and delivery["error"] == "UNREACHABLE"

    async def worker_state() -> Any:
        ready = await client.get("/readyz")
        assert ready.status == 200  # logins still work: readiness holds
        return (await ready.json())["checks"]["push_worker"]

    async def failing() -> Any:
        state = await worker_state()
        return state if isinstance(state, dict) else None

    state = await eventually(failing, what="push_worker failing while FCM is unreachable")
    assert state["reason"] == "no FCM send succeeded: UNREACHABLE"

    async def retried_again() -> Any:
        found = await db.deliveries.find_one({"notification_id": accepted["id"]})
        return found if found.get("retries", 0) >= 3 else None

    await eventually(retried_again, what="later turns, FCM still unreachable")
    assert await worker_state() == state  # still failing, since the same moment: no idle turn hides it
    metrics = await scrape(client)
    assert metrics.value("bridge_push_worker_failing") == 1
    assert metrics.value("bridge_outbox_depth") == 1

    await aiohttp_server(fcm.app(), port=port)
    report = await finished(client, headers, accepted["id"], seconds=60)
    assert report["counts"]["sent"] == 1 and fcm.sent_tokens() == [token("wait")]
    await eventually(lambda: _is_ok(worker_state), what="push_worker ok once FCM answers")


async def _is_ok(worker_state: Any) -> bool:
    return bool(await worker_state() == "ok")


async def test_the_supervisor_restarts_a_delivery_loop_that_exits(
    aiohttp_client, make_settings, fcm, keys, headers
):
    client = await aiohttp_client(create_app(push_settings(make_settings, fcm)))
    before = await scrape(client)
    loops = [task for task in asyncio.all_tasks() if task.get_name() == "push-delivery"]
    assert len(loops) == 1
    loops[0].cancel()  # the loop ends as if it had crashed

    async def restarted() -> Any:
        after = await scrape(client)
        return after.increase_since(before, "bridge_push_worker_restarts_total") == 1

    await eventually(restarted, what="a restart counted")
    uid = await make_user(client, keys, "after-restart")
    await add_device(client, headers, uid, token("restarted"))
    report = await finished(
        client, headers, (await send(client, headers, recipients=[uid], data={"k": "v"}))["id"]
    )
    assert report["counts"]["sent"] == 1
    assert [t.get_name() for t in asyncio.all_tasks()].count("push-delivery") == 1


# -- real bridge processes sharing one outbox ----------------------------------------------------


@pytest.fixture
def start_bridge(tmp_path, bridge_processes):
    (tmp_path / "partners.toml").write_text(
        '[partners.shop]\nkind = "password"\nlogin_url = "http://127.0.0.1:9/login"\ntimeout_seconds = 5\n'
    )

    async def start(fcm: FcmStandIn, **env: str) -> tuple[subprocess.Popen[bytes], str]:
        return await bridge_processes.start(
            BRIDGE_PARTNERS_FILE=str(tmp_path / "partners.toml"),
            BRIDGE_FCM_URL=fcm.base_url,
            BRIDGE_FCM_TOKEN_URL=f"{fcm.base_url}/token",
            BRIDGE_PUSH_POLL_SECONDS="0.1",
            BRIDGE_LOG_LEVEL="INFO",
            **env,
        )

    return start


async def seed_devices(db: Any, count: int, prefix: str) -> tuple[str, list[str]]:
    now = datetime.now(UTC)
    uid = f"shop:{prefix}"
    await db.users.insert_one(
        {
            "uid": uid,
            "partner": "shop",
            "external_id": prefix,
            "disabled": False,
            "claims": {},
            "created_at": now,
        }
    )
    tokens = [token(prefix, n) for n in range(count)]
    await db.devices.insert_many(
        [
            {"_id": t, "uid": uid, "platform": "android", "created_at": now, "last_seen_at": now}
            for t in tokens
        ]
    )
    return uid, tokens


async def notify(base: str, headers: dict[str, str], uid: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/v1/notifications", headers=headers, json={"recipients": [uid], "data": {"k": "v"}}
        ) as r,
    ):
        await assert_documented(await served_contract(http, base), r)
        assert r.status == 202, await r.text()
        notification_id: str = (await r.json())["id"]
        return notification_id


async def all_finished(db: Any, notification_id: str, count: int, seconds: float = 120) -> None:
    async def done() -> bool:
        finished_count: int = await db.deliveries.count_documents(
            {"notification_id": notification_id, "state": {"$in": ["sent", "failed", "pruned"]}}
        )
        return finished_count == count

    await eventually(done, seconds=seconds, what=f"{count} deliveries finished")


async def test_two_processes_with_a_5_second_lease_and_a_slow_fcm_send_each_device_exactly_once(
    start_bridge, fcm, db, headers
):
    fcm.delay = 0.5  # 60 sends take 30 s of one worker: six leases' worth
    lease = {"BRIDGE_PUSH_CONCURRENCY": "1", "BRIDGE_PUSH_LEASE_SECONDS": "5"}
    (_, first), (_, _second) = await asyncio.gather(start_bridge(fcm, **lease), start_bridge(fcm, **lease))
    uid, tokens = await seed_devices(db, 60, "lease")

    notification_id = await notify(first, headers, uid)
    await all_finished(db, notification_id, 60)

    sent = Counter(fcm.sent_tokens())
    assert sent == Counter(tokens)  # every device exactly once
    assert len(fcm.requests) == 60
    assert await db.deliveries.count_documents({"notification_id": notification_id, "state": "sent"}) == 60
    senders = await db.deliveries.distinct("sent_by", {"notification_id": notification_id})
    assert len(senders) == 2  # both processes did part of the work


async def test_sigterm_mid_send_stays_exactly_once_and_sigkill_at_least_once(start_bridge, fcm, db, headers):
    fcm.delay = 0.3
    settings = {"BRIDGE_PUSH_CONCURRENCY": "2", "BRIDGE_PUSH_LEASE_SECONDS": "3"}
    uid, tokens = await seed_devices(db, 30, "stop")

    process, base = await start_bridge(fcm, **settings)
    notification_id = await notify(base, headers, uid)
    await eventually(lambda: _at_least(fcm, 4), what="4 sends")
    process.send_signal(signal.SIGTERM)  # clean stop mid-send
    await asyncio.to_thread(process.wait, 30)
    assert await db.deliveries.count_documents({"notification_id": notification_id, "state": "sending"}) == 0
    assert set(Counter(fcm.sent_tokens()).values()) == {1}

    process, base = await start_bridge(fcm, **settings)
    await eventually(lambda: _at_least(fcm, 12), what="12 sends")
    process.send_signal(signal.SIGKILL)  # mid-send: what was sent but not recorded is sent again
    await asyncio.to_thread(process.wait, 30)

    await start_bridge(fcm, **settings)
    await all_finished(db, notification_id, 30)

    sent = Counter(fcm.sent_tokens())
    assert set(sent) == set(tokens)  # at least once
    assert max(sent.values()) <= 2
    # At most the sends in flight plus the results not yet written: 2 x BRIDGE_PUSH_CONCURRENCY.
    assert sum(n - 1 for n in sent.values()) <= 4


async def _at_least(fcm: FcmStandIn, count: int) -> bool:
    return len(fcm.requests) >= count


async def test_a_process_stalled_past_its_lease_sends_nothing_it_no_longer_holds(
    start_bridge, fcm, db, headers
):
    fcm.delay = 0.3
    settings = {"BRIDGE_PUSH_CONCURRENCY": "1", "BRIDGE_PUSH_LEASE_SECONDS": "5"}
    uid, tokens = await seed_devices(db, 20, "stall")
    stalled, stalled_base = await start_bridge(fcm, **settings)
    notification_id = await notify(stalled_base, headers, uid)

    async def holds_unsent_claims() -> bool:
        """A send in flight (so the worker knows its batch) and three or more claims waiting."""
        leased: int = await db.deliveries.count_documents(
            {"notification_id": notification_id, "state": "sending"}
        )
        return fcm.in_flight == 1 and leased >= 4

    await eventually(holds_unsent_claims, what="a claim of 4 with a send in flight")
    stalled.send_signal(signal.SIGSTOP)  # it holds claims it cannot renew
    # What it holds now (results it had written are no longer `sending`), and under which owner.
    held_at_stop = [
        (d["_id"], d["lease_owner"].rsplit("-", 1)[0])
        async for d in db.deliveries.find({"notification_id": notification_id, "state": "sending"})
    ]
    stalled_owner = held_at_stop[0][1]
    assert {owner for _, owner in held_at_stop} == {stalled_owner} and len(held_at_stop) >= 4
    try:
        other, _ = await start_bridge(fcm, **settings)
        await all_finished(db, notification_id, 20)
    finally:
        stalled.send_signal(signal.SIGCONT)
    other.send_signal(signal.SIGTERM)
    await asyncio.to_thread(other.wait, 30)

    # The woken process finishes its stale batch (sending none of it) before it takes new work:
    # once it has delivered a new notification, whatever it would have sent has been sent.
    later_uid, later_tokens = await seed_devices(db, 1, "after-stall")
    later = await notify(stalled_base, headers, later_uid)
    await all_finished(db, later, 1)

    sent = Counter(fcm.sent_tokens())
    assert set(sent) == set(tokens) | set(later_tokens)
    assert sum(n - 1 for n in sent.values()) <= 1  # at most the one send in flight at the stop
    # Each delivery it held at the stop and did not get recorded as its own (a result write already
    # on its way to mongod may still have landed) was given up once: as a send it no longer held, or
    # as a result fenced off. Counted in the stalled process's own registry (nothing else counts there).
    taken_over = await db.deliveries.count_documents(
        {"_id": {"$in": [i for i, _ in held_at_stop]}, "sent_by": {"$ne": stalled_owner}}
    )
    lost = Scrape.parse(await _get(stalled_base, "/metrics")).value("bridge_push_lease_lost_total")
    assert lost == taken_over and taken_over >= 1  # at least the send in flight at the stop


async def _get(base: str, path: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(base + path) as response:
        await assert_documented(await served_contract(http, base), response)
        return await response.text()
