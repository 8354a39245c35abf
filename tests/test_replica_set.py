"""MongoDB as a replica set: the primary killed (SIGKILL) during a login loop. No 500s, logins
succeed again within 20 s of the new primary's election, and no acknowledged login is lost or
doubled: the user count equals the number of distinct users that got a 200."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from bridge.app import create_app

from stack import ReplicaSet, wait_for_primary


@pytest.fixture
def members(replica_set: ReplicaSet | None) -> ReplicaSet:
    if replica_set is None:
        pytest.skip("kills members of the replica set it started itself")
    return replica_set


@pytest.mark.parametrize("mongodb_topology", ["replica-set"], indirect=True)
async def test_primary_killed_during_a_login_loop(
    aiohttp_client, make_settings, keys, database_name, members, replica_set_uri
):
    client = await aiohttp_client(create_app(make_settings(mongodb_timeout_ms=1500)))
    statuses: Counter[int] = Counter()
    succeeded: set[str] = set()
    killed_at: list[float] = []
    stop = asyncio.Event()
    answers: list[tuple[float, float, int]] = []  # (sent, answered, status)

    async def worker(n: int) -> None:
        user = 0
        while not stop.is_set():
            sub = f"failover-{n}-{user}"
            while True:  # the same user until it gets its 200: every user tried ends up logged in
                started = time.monotonic()
                response = await client.post(
                    "/v1/login", json={"partner": "acme", "token": keys.token(sub=sub)}
                )
                await response.read()
                statuses[response.status] += 1
                answers.append((started, time.monotonic(), response.status))
                if response.status == 200:
                    succeeded.add(sub)
                    break
                assert response.status == 503, response.status
                await asyncio.sleep(0.05)
            user += 1

    workers = [asyncio.create_task(worker(n)) for n in range(4)]
    try:
        while len(succeeded) < 40:
            await asyncio.sleep(0.05)
        old_primary = members.primary()
        old_primary.kill()
        killed_at.append(time.monotonic())
        others = [m.host for m in members.members if m is not old_primary]
        await asyncio.to_thread(wait_for_primary, others, 60)
        elected_at = time.monotonic()
        deadline = elected_at + 25

        def served_since_election() -> int:
            return sum(1 for start, _, status in answers if status == 200 and start >= elected_at)

        while served_since_election() < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 60)
    try:
        assert set(statuses) <= {200, 503}, statuses  # no 500s, ever
        recovered = min(end for start, end, status in answers if status == 200 and start >= elected_at)
        assert recovered - elected_at <= 20
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(replica_set_uri)
        try:
            users = await mongo[database_name].users.count_documents({"uid": {"$regex": "^acme:failover-"}})
        finally:
            await mongo.close()
        assert users == len(succeeded)
        slowest = max(end - start for start, end, _ in answers)
        print(
            f"failover: {sum(statuses.values())} requests {dict(statuses)}, election "
            f"{elected_at - killed_at[0]:.1f} s after the kill, first 200 of a request sent after it "
            f"{recovered - elected_at:.1f} s later, slowest answer {slowest:.1f} s, {len(succeeded)} users"
        )
    finally:
        old_primary.start()  # the shared set is whole again for whoever comes next
        await asyncio.to_thread(wait_for_primary, members.hosts, 60)
