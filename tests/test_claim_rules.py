"""Per-partner claim rules, and single-use tokens held in MongoDB across bridge processes."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest

from bridge.app import create_app

from partner_tokens import acme_like


def rules_partner(**rules: Any) -> dict[str, Any]:
    return acme_like(**rules)


@pytest.fixture
def start(start_with_partners):
    async def start(**rules: Any) -> Any:
        return await start_with_partners(strict=rules_partner(**rules))

    return start


async def status_of(client: Any, token: str) -> int:
    response = await client.post("/v1/login", json={"partner": "strict", "token": token})
    return response.status


async def test_required_claims_exact_and_one_of(start, keys):
    client = await start(required_claims={"tenant": "acme", "role": ["admin", "editor"], "verified": True})
    good = dict(tenant="acme", role="editor", verified=True)
    assert await status_of(client, keys.token(**good)) == 200
    assert await status_of(client, keys.token(**{**good, "tenant": "other"})) == 401
    assert await status_of(client, keys.token(**{**good, "role": "viewer"})) == 401
    assert await status_of(client, keys.token(**{**good, "verified": 1})) == 401  # 1 is not true
    assert await status_of(client, keys.token(tenant="acme", role="admin")) == 401  # missing claim


async def test_nested_required_claim(start, keys):
    client = await start(required_claims={"org.plan": "pro"})
    assert await status_of(client, keys.token(org={"plan": "pro"})) == 200
    assert await status_of(client, keys.token(org={"plan": "free"})) == 401


async def test_max_token_age_requires_a_recent_iat(start, keys):
    client = await start(max_token_age_seconds=60, leeway_seconds=0)
    now = int(time.time())
    assert await status_of(client, keys.token(iat=now - 10)) == 200
    assert await status_of(client, keys.token(iat=now - 600)) == 401
    assert await status_of(client, keys.token(drop=("iat",))) == 401


async def test_typ_header_check(start, keys):
    client = await start(typ="at+jwt")
    assert await status_of(client, keys.token(headers={"typ": "at+JWT"})) == 200
    assert await status_of(client, keys.token(headers={"typ": "JWT"})) == 401


async def test_nbf_and_leeway(start, keys):
    client = await start(leeway_seconds=30)
    assert await status_of(client, keys.token(nbf=int(time.time()) + 20)) == 200  # within the leeway
    assert await status_of(client, keys.token(nbf=int(time.time()) + 120)) == 401


async def test_single_use_token_is_accepted_once(start, keys, db):
    client = await start(single_use=True)
    token = keys.token(sub="once", jti=secrets.token_hex(8))

    first = await client.post("/v1/login", json={"partner": "strict", "token": token})
    second = await client.post("/v1/login", json={"partner": "strict", "token": token})

    assert first.status == 200
    assert second.status == 401
    assert (await second.json())["detail"] == "token has already been used"
    assert (await db.users.find_one({"uid": "strict:once"}))["login_count"] == 1


async def test_single_use_requires_jti(start, keys, db):
    client = await start(single_use=True)
    assert await status_of(client, keys.token()) == 401
    assert await db.used_tokens.count_documents({}) == 0


async def test_a_rejected_token_does_not_spend_its_jti(start, keys):
    client = await start(single_use=True, required_claims={"role": "admin"})
    jti = secrets.token_hex(8)
    assert await status_of(client, keys.token(jti=jti, role="guest")) == 401
    assert await status_of(client, keys.token(jti=jti, role="admin")) == 200


async def test_two_concurrent_uses_give_exactly_one_success(start, keys):
    client = await start(single_use=True)
    token = keys.token(sub="race", jti=secrets.token_hex(8))
    statuses = await asyncio.gather(*(status_of(client, token) for _ in range(2)))
    assert sorted(statuses) == [200, 401]


async def test_single_use_holds_across_two_bridge_processes(aiohttp_client, make_settings, keys):
    settings = make_settings(extra_partners={"strict": rules_partner(single_use=True)})
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    token = keys.token(jti=secrets.token_hex(8))

    statuses = await asyncio.gather(*(status_of(c, token) for c in (one, two, one, two)))

    assert sorted(statuses) == [200, 401, 401, 401]


async def test_used_token_records_expire_with_the_token(start, keys, db):
    client = await start(single_use=True, leeway_seconds=5)
    exp = int(time.time()) + 120
    assert await status_of(client, keys.token(jti="j-1", exp=exp)) == 200
    record = await db.used_tokens.find_one({"_id": "strict:j-1"})
    assert int(record["expires_at"].timestamp()) == exp + 5
    indexes = await db.used_tokens.index_information()
    assert indexes["expires_at_ttl"]["expireAfterSeconds"] == 0


async def test_an_expired_record_not_yet_swept_does_not_block_reuse(db):
    """TTL sweeps run late: the query itself treats an expired record as absent."""
    from datetime import UTC, datetime, timedelta

    from bridge.store.used_tokens import UsedTokens

    used = UsedTokens(db)
    past = datetime.now(UTC) - timedelta(seconds=5)
    await db.used_tokens.insert_one({"_id": "p:j", "expires_at": past})
    future = datetime.now(UTC) + timedelta(minutes=5)
    assert await used.use("p", "j", future) is True
    assert await used.use("p", "j", future) is False
