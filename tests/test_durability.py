"""Acknowledged means durable: mongod killed with SIGKILL right after bridge answered, then restarted
on the same data, still has every write bridge acknowledged (single-use token ids, login counts)."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from pymongo import AsyncMongoClient
from test_claim_rules import rules_partner

from bridge.app import create_app


async def answer(client: Any, body: dict[str, Any], seconds: float = 30) -> Any:
    """The first answer that is not 503 (mongod restarting)."""
    deadline = time.monotonic() + seconds
    while True:
        response = await client.post("/v1/login", json=body)
        if response.status != 503:
            return response
        assert time.monotonic() < deadline, "bridge answered 503 for too long"
        await asyncio.sleep(0.1)


async def test_a_spent_single_use_token_stays_spent_after_mongod_is_killed_3_of_3(
    aiohttp_client, make_settings, keys, own_mongod
):
    settings = make_settings(
        mongodb_uri=own_mongod.uri, extra_partners={"strict": rules_partner(single_use=True)}
    )
    client = await aiohttp_client(create_app(settings))
    refused = 0
    for round_ in range(3):
        body = {"partner": "strict", "token": keys.token(sub=f"kill-{round_}", jti=secrets.token_hex(8))}
        assert (await answer(client, body)).status == 200
        own_mongod.kill()  # at once after the 200
        own_mongod.start()
        replay = await answer(client, body)
        assert replay.status == 401
        assert (await replay.json())["detail"] == "token has already been used"
        refused += 1
    assert refused == 3


async def test_acknowledged_login_counts_survive_a_sigkill(aiohttp_client, make_settings, keys, own_mongod):
    client = await aiohttp_client(create_app(make_settings(mongodb_uri=own_mongod.uri)))
    body = {"partner": "acme", "token": keys.token(sub="counted")}
    statuses = await asyncio.gather(*(client.post("/v1/login", json=body) for _ in range(20)))
    assert [r.status for r in statuses] == [200] * 20
    own_mongod.kill()
    own_mongod.start()

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(own_mongod.uri)
    try:
        user = await mongo[settings_database(client)].users.find_one({"uid": "acme:counted"})
    finally:
        await mongo.close()
    assert user is not None and user["login_count"] == 20


def settings_database(client: Any) -> str:
    from bridge.web.keys import SETTINGS

    name: str = client.server.app[SETTINGS].mongodb_database
    return name
