"""With MongoDB stopped, bridge answers 503 (never 500) and recovers by itself when it returns."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.app import create_app


async def wait_for_status(client: Any, method: str, path: str, status: int, **kwargs: Any) -> Any:
    for _ in range(100):
        response = await client.request(method, path, **kwargs)
        if response.status == status:
            return response
        await asyncio.sleep(0.2)
    raise AssertionError(f"{method} {path} never answered {status}")


async def test_503_while_mongodb_is_down_and_recovery_after(aiohttp_client, make_settings, keys, own_mongod):
    settings = make_settings(mongodb_uri=own_mongod.uri, mongodb_timeout_ms=500)
    client = await aiohttp_client(create_app(settings))
    login = {"partner": "acme", "token": keys.token(sub="outage")}
    assert (await client.get("/readyz")).status == 200
    assert (await client.post("/v1/login", json=login)).status == 200

    own_mongod.stop()
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert ready.headers["Retry-After"]
    assert ready.content_type == "application/problem+json"
    response = await client.post("/v1/login", json=login)
    assert response.status == 503
    assert (await response.json())["type"] == "/problems/dependency-unavailable"
    assert (await client.get("/healthz")).status == 200  # the process itself is alive

    own_mongod.start()
    await wait_for_status(client, "GET", "/readyz", 200)
    response = await wait_for_status(client, "POST", "/v1/login", 200, json=login)
    assert (await response.json())["user"]["login_count"] == 2


async def test_bridge_starts_while_mongodb_is_down_and_creates_indexes_later(
    aiohttp_client, make_settings, keys, own_mongod
):
    own_mongod.stop()
    settings = make_settings(mongodb_uri=own_mongod.uri, mongodb_timeout_ms=300)
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/readyz")).status == 503

    own_mongod.start()
    await wait_for_status(
        client, "POST", "/v1/login", 200, json={"partner": "acme", "token": keys.token(sub="late")}
    )
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(own_mongod.uri)
    indexes = await mongo[make_settings().mongodb_database].users.index_information()
    await mongo.close()
    assert indexes["uid"]["unique"] and indexes["partner_external_id"]["unique"]


async def test_a_stalled_mongod_gives_503_within_twice_its_timeout_and_nothing_else(
    aiohttp_client, make_settings, keys, own_mongod
):
    """SIGSTOP: connections stay open but nothing answers (a hung disk, a frozen VM). Writes already
    sent when it stalled may still be applied when it resumes (documented): nothing is lost, and no
    more is counted than was sent."""
    import signal
    import time

    settings = make_settings(mongodb_uri=own_mongod.uri, mongodb_timeout_ms=500)
    client = await aiohttp_client(create_app(settings))
    login = {"partner": "acme", "token": keys.token(sub="stalled")}
    assert (await client.post("/v1/login", json=login)).status == 200

    own_mongod.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        answers = await asyncio.gather(*(client.post("/v1/login", json=login) for _ in range(10)))
        took = time.monotonic() - started
        assert [r.status for r in answers] == [503] * 10
        assert all(r.headers["Retry-After"] for r in answers)
        assert took <= 2 * 0.5 + 2  # each operation gives up after twice the timeout
        ready = await client.get("/readyz")
        assert ready.status == 503
    finally:
        own_mongod.process.send_signal(signal.SIGCONT)
    response = await wait_for_status(client, "POST", "/v1/login", 200, json=login)
    count = (await response.json())["user"]["login_count"]
    assert 2 <= count <= 2 + 10
