"""Password relay partners against a stand-in of the partner's login API."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from bridge.app import create_app

from stack import free_port

PASSWORD = "correct horse battery staple"


def shop_partner(login_url: str, **options: Any) -> dict[str, Any]:
    return {
        "kind": "password",
        "login_url": login_url,
        "user_id_path": "user.id",
        "email_path": "user.email",
        "name_path": "user.username",
        "claims": {"role": "user.role.name"},
        **options,
    }


@pytest.fixture
def start(aiohttp_client, make_settings, partner_server):
    partner_server.accounts["ann@shop.test"] = (
        PASSWORD,
        {"id": 42, "email": "ann@shop.test", "username": "ann", "role": {"name": "buyer"}},
    )

    async def start(login_url: str | None = None, **options: Any) -> Any:
        url = login_url or f"{partner_server.base_url}/api/auth/local"
        settings = make_settings(extra_partners={"shop": shop_partner(url, **options)})
        return await aiohttp_client(create_app(settings))

    return start


async def password_login(client: Any, username: str, password: str, **headers: str) -> Any:
    return await client.post(
        "/v1/login", json={"partner": "shop", "username": username, "password": password}, headers=headers
    )


async def test_good_password_logs_in_and_nothing_keeps_the_password(start, partner_server, db, caplog):
    caplog.set_level(logging.DEBUG)
    client = await start()

    response = await password_login(client, "ann@shop.test", PASSWORD)

    assert response.status == 200
    body = await response.json()
    assert body["user"]["uid"] == "shop:42"
    assert body["user"]["email"] == "ann@shop.test"
    assert body["user"]["display_name"] == "ann"
    assert body["user"]["claims"] == {"role": "buyer"}
    assert partner_server.login_requests == [{"identifier": "ann@shop.test", "password": PASSWORD}]
    stored = json.dumps([doc async for doc in db.users.find({}, {"_id": 0})], default=str)
    assert PASSWORD not in stored and "partner-session-token" not in stored
    assert all(PASSWORD not in r.getMessage() and PASSWORD not in str(vars(r)) for r in caplog.records)


async def test_request_field_names_and_extra_fields_are_configurable(start, partner_server):
    partner_server.accounts["bob"] = (PASSWORD, {"id": "b-1"})
    client = await start(username_field="identifier", extra_fields={"provider": "local"})
    assert (await password_login(client, "bob", PASSWORD)).status == 200
    assert partner_server.login_requests[-1] == {
        "provider": "local",
        "identifier": "bob",
        "password": PASSWORD,
    }


async def test_wrong_password_is_401_and_writes_no_user(start, db):
    client = await start()
    response = await password_login(client, "ann@shop.test", "wrong")
    assert response.status == 401
    assert (await response.json())["type"] == "/problems/invalid-credential"
    assert await db.users.count_documents({}) == 0


async def test_lockout_per_username_with_retry_after(start, partner_server):
    client = await start(max_failures_per_user=3, failure_window_seconds=600)
    for _ in range(3):
        assert (await password_login(client, "ann@shop.test", "wrong")).status == 401

    locked = await password_login(client, "ANN@shop.test", PASSWORD)  # even the right password

    assert locked.status == 429
    assert 590 <= int(locked.headers["Retry-After"]) <= 600
    assert (await locked.json())["type"] == "/problems/too-many-attempts"
    assert len(partner_server.login_requests) == 3  # the locked attempt never reached the partner
    other = await password_login(client, "someone-else", "x")
    assert other.status == 401  # another username is not locked


async def test_lockout_per_client_address(start):
    client = await start(max_failures_per_user=100, max_failures_per_address=4)
    for n in range(4):
        assert (await password_login(client, f"user-{n}", "wrong")).status == 401
    assert (await password_login(client, "ann@shop.test", PASSWORD)).status == 429


async def test_a_success_clears_the_username_counter(start):
    client = await start(max_failures_per_user=3)
    for _ in range(2):
        await password_login(client, "ann@shop.test", "wrong")
    assert (await password_login(client, "ann@shop.test", PASSWORD)).status == 200
    for _ in range(2):
        assert (await password_login(client, "ann@shop.test", "wrong")).status == 401
    assert (await password_login(client, "ann@shop.test", PASSWORD)).status == 200


async def test_lockout_is_shared_by_bridge_processes(aiohttp_client, make_settings, partner_server):
    url = f"{partner_server.base_url}/api/auth/local"
    settings = make_settings(extra_partners={"shop": shop_partner(url, max_failures_per_user=2)})
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    assert (await password_login(one, "ann@shop.test", "wrong")).status == 401
    assert (await password_login(two, "ann@shop.test", "wrong")).status == 401
    assert (await password_login(one, "ann@shop.test", PASSWORD)).status == 429


async def test_partner_5xx_is_502(start, partner_server, db):
    partner_server.login_status = 500
    client = await start()
    response = await password_login(client, "ann@shop.test", PASSWORD)
    assert response.status == 502
    assert (await response.json())["type"] == "/problems/partner-unavailable"
    assert await db.users.count_documents({}) == 0


async def test_slow_partner_is_504(start, partner_server):
    partner_server.login_delay = 1.0
    client = await start(timeout_seconds=0.2)
    response = await password_login(client, "ann@shop.test", PASSWORD)
    assert response.status == 504
    assert (await response.json())["type"] == "/problems/partner-timeout"


async def test_unreachable_partner_is_502(start):
    client = await start(login_url=f"http://127.0.0.1:{free_port()}/api/auth/local")
    assert (await password_login(client, "ann@shop.test", PASSWORD)).status == 502


async def test_answer_without_a_user_id_is_502(start, partner_server):
    partner_server.accounts["ghost"] = (PASSWORD, {"email": "ghost@shop.test"})
    client = await start()
    assert (await password_login(client, "ghost", PASSWORD)).status == 502


async def test_wrong_credential_shapes_are_400(start, keys):
    client = await start()
    token_to_password_partner = await client.post("/v1/login", json={"partner": "shop", "token": "x"})
    password_to_jwt_partner = await client.post(
        "/v1/login", json={"partner": "acme", "username": "a", "password": "b"}
    )
    assert token_to_password_partner.status == 400
    assert password_to_jwt_partner.status == 400


async def test_concurrent_failures_are_all_counted(start, db):
    client = await start(max_failures_per_user=50)
    await asyncio.gather(*(password_login(client, "ann@shop.test", "wrong") for _ in range(10)))
    counters = [doc async for doc in db.login_attempts.find({})]
    # per username, per address, and invalid credentials per address
    assert sorted(doc["failures"] for doc in counters) == [10, 10, 10]
    assert all("ann" not in doc["_id"] for doc in counters)  # stored as hashes
