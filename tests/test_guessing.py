"""Guessing is bounded for every credential kind (issue 10 §5), attacked over HTTP: concurrent wrong
passwords, username spellings, forged tokens from one address, across two bridge processes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import jwt
import pytest
from test_password_partners import PASSWORD, shop_partner

from bridge.app import create_app
from bridge.cli.main import main
from bridge.web.keys import LOGIN_ATTEMPTS

from partner_tokens import ISSUER

LIMIT = 5


async def password_login(client: Any, username: str, password: str, **headers: str) -> Any:
    return await client.post(
        "/v1/login", json={"partner": "shop", "username": username, "password": password}, headers=headers
    )


@pytest.fixture
def shop(partner_server) -> dict[str, Any]:
    partner_server.accounts["ann"] = (PASSWORD, {"id": 1, "username": "ann"})
    partner_server.login_delay = 0.2  # every relayed check is in flight while the others arrive
    return shop_partner(
        f"{partner_server.base_url}/api/auth/local",
        max_failures_per_user=LIMIT,
        max_failures_per_address=1000,
        max_invalid_per_address=1000,
    )


async def test_60_concurrent_wrong_passwords_let_at_most_the_limit_reach_the_partner(
    aiohttp_client, make_settings, partner_server, shop
):
    settings = make_settings(extra_partners={"shop": shop})
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))  # a second bridge process on the same MongoDB

    answers = await asyncio.gather(
        *(password_login(one if n % 2 else two, "ann", f"guess-{n}") for n in range(60))
    )

    statuses = Counter(response.status for response in answers)
    assert len(partner_server.login_requests) == LIMIT
    assert statuses == {401: LIMIT, 429: 60 - LIMIT}
    assert all(int(r.headers["Retry-After"]) > 0 for r in answers if r.status == 429)
    # Locked: even the right password does not reach the partner now.
    assert (await password_login(one, "ann", PASSWORD)).status == 429
    assert len(partner_server.login_requests) == LIMIT


async def test_username_spellings_share_one_counter_and_are_relayed_as_typed(
    aiohttp_client, make_settings, partner_server, shop
):
    partner_server.login_delay = 0.0
    client = await aiohttp_client(create_app(make_settings(extra_partners={"shop": shop})))
    spellings = [" ann", "ann ", "\tann", "ann\n", "ANN", "Ann", "\uff41\uff4e\uff4e", " ANN\r\n"]

    statuses = [(await password_login(client, name, "wrong")).status for name in spellings]

    assert statuses == [401] * LIMIT + [429] * (len(spellings) - LIMIT)
    assert [r["identifier"] for r in partner_server.login_requests] == spellings[:LIMIT]


def forged(issuer: str = ISSUER, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "aud": "bridge", "sub": "victim", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, "not-the-partners-secret-" + "x" * 16, algorithm="HS256")


async def token_login(client: Any, partner: str, token: str, **headers: str) -> Any:
    return await client.post("/v1/login", json={"partner": partner, "token": token}, headers=headers)


async def test_forged_tokens_from_one_address_are_throttled_with_the_defaults(
    aiohttp_client, make_settings, keys, db
):
    settings = make_settings(trusted_proxies=frozenset({"127.0.0.1"}))
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    attacker = {"X-Forwarded-For": "203.0.113.7"}

    statuses = [
        (await token_login(one if n % 2 else two, "acme", forged(n=n), **attacker)).status for n in range(40)
    ]

    assert statuses == [401] * 30 + [429] * 10  # the default max_invalid_per_address, shared by both
    locked = await token_login(one, "acme", keys.token(sub="victim"), **attacker)
    assert locked.status == 429  # the address is throttled, whatever it sends
    assert 0 < int(locked.headers["Retry-After"]) <= 300  # the default invalid_window_seconds
    assert (await locked.json())["type"] == "/problems/too-many-attempts"
    # Once a process knows the lock (from its own failures, or within LOCK_SYNC_SECONDS from the
    # other's), what the locked address sends to it adds nothing to the counter.
    counted = (await db.login_attempts.find_one({}))["failures"]
    for client in (one, two):
        for n in range(5):
            assert (await token_login(client, "acme", forged(n=100 + n), **attacker)).status == 429
    assert (await db.login_attempts.find_one({}))["failures"] == counted
    # A valid login from another address is unaffected, on either process.
    for client in (one, two):
        other = await token_login(
            client, "acme", keys.token(sub="victim"), **{"X-Forwarded-For": "198.51.100.2"}
        )
        assert other.status == 200
    assert await db.users.count_documents({}) == 1


async def test_a_lock_made_by_one_process_is_known_to_the_others_after_their_sync(
    aiohttp_client, make_settings, keys, db
):
    """Token logins read locks from the process's board, not from MongoDB on every login: the
    process whose failures locked the address knows at once, the other after its next poll
    (every LOCK_SYNC_SECONDS), and an unlocked window is forgotten by both."""
    settings = make_settings(trusted_proxies=frozenset({"127.0.0.1"}))
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    for n in range(30):
        assert (await token_login(one, "acme", forged(n=n), **attacker)).status == 401
    assert (await token_login(one, "acme", keys.token(sub="victim"), **attacker)).status == 429

    await two.app[LOGIN_ATTEMPTS].sync_locks()
    assert (await token_login(two, "acme", keys.token(sub="victim"), **attacker)).status == 429

    await db.login_attempts.delete_many({})  # what `bridge unlock` does
    for client in (one, two):
        assert (await token_login(client, "acme", keys.token(sub="victim"), **attacker)).status == 200


async def test_concurrent_forged_tokens_get_at_most_the_limit_of_401s(aiohttp_client, make_settings, db):
    """However many race past the lock check, at most max_invalid_per_address failures are
    answered as such; the rest are 429 and write nothing."""
    settings = make_settings()
    one = await aiohttp_client(create_app(settings))
    two = await aiohttp_client(create_app(settings))

    answers = await asyncio.gather(
        *(token_login(one if n % 2 else two, "acme", forged(n=n)) for n in range(300))
    )

    assert Counter(response.status for response in answers) == {401: 30, 429: 270}
    assert await db.users.count_documents({}) == 0


async def test_forwarded_for_is_ignored_from_untrusted_peers(client, keys):
    """Without BRIDGE_TRUSTED_PROXIES, rotating X-Forwarded-For does not escape the throttle."""
    for n in range(30):
        response = await token_login(client, "acme", forged(), **{"X-Forwarded-For": f"10.0.0.{n}"})
        assert response.status == 401
    rotated = await token_login(client, "acme", keys.token(), **{"X-Forwarded-For": "10.0.1.1"})
    assert rotated.status == 429


def partner_kinds(base_url: str, login_url: str) -> dict[str, dict[str, Any]]:
    throttle = {"max_invalid_per_address": LIMIT, "invalid_window_seconds": 120}
    common = {"audience": "bridge", **throttle}
    return {
        "hs": {
            "kind": "jwt",
            "issuer": ISSUER,
            "algorithms": ["HS256"],
            "secret_file": "acme.secret",
            **common,
        },
        "pem": {
            "kind": "jwt",
            "issuer": "https://rsa.test",
            "algorithms": ["RS256"],
            "public_key_file": "rsa.pem",
            **common,
        },
        "jwks": {
            "kind": "jwt",
            "issuer": base_url,
            "algorithms": ["RS256"],
            "jwks_url": f"{base_url}/jwks.json",
            **common,
        },
        "oidc": {"kind": "oidc", "issuer": base_url, **common},
        "once": {
            "kind": "jwt",
            "issuer": ISSUER,
            "algorithms": ["HS256"],
            "secret_file": "acme.secret",
            "single_use": True,
            **common,
        },
        "shop": shop_partner(
            login_url, max_failures_per_user=1000, max_failures_per_address=1000, **throttle
        ),
    }


@pytest.mark.parametrize("kind", ["hs", "pem", "jwks", "oidc", "once", "shop"])
async def test_every_partner_kind_throttles_invalid_credentials_per_address(
    aiohttp_client, make_settings, partner_server, keys, kind
):
    partner_server.add_rsa_key("k1")
    partners = partner_kinds(partner_server.base_url, f"{partner_server.base_url}/api/auth/local")
    partner_server.accounts["ann"] = (PASSWORD, {"id": 1})
    client = await aiohttp_client(
        create_app(make_settings(extra_partners=partners, trusted_proxies=frozenset({"127.0.0.1"})))
    )
    attacker, friend = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.9"}

    async def attempt(valid: bool, headers: dict[str, str], n: int) -> Any:
        if kind == "shop":
            password = PASSWORD if valid else f"guess-{n}"
            return await client.post(
                "/v1/login", json={"partner": kind, "username": "ann", "password": password}, headers=headers
            )
        if kind in ("jwks", "oidc"):
            token = partner_server.token("k1", sub="ann") if valid else forged(partner_server.base_url)
        elif kind == "pem":
            token = keys.token("rsa-co", sub="ann") if valid else forged("https://rsa.test")
        elif kind == "once":
            used = keys.token(sub="ann", jti="replayed")
            token = keys.token(sub="ann", jti=f"fresh-{n}") if valid else used  # replays count
        else:
            token = keys.token(sub="ann") if valid else forged()
        return await token_login(client, kind, token, **headers)

    if kind == "once":
        assert (await attempt(False, friend, 0)).status == 200  # the first use of the replayed token
    statuses = [(await attempt(False, attacker, n)).status for n in range(LIMIT + 3)]

    assert statuses == [401] * LIMIT + [429] * 3
    assert (await attempt(True, attacker, 100)).status == 429
    assert (await attempt(True, friend, 101)).status == 200


async def test_redirect_logins_count_towards_the_address_throttle(start_with_partners, keys):
    from test_redirect_login import web_partner

    client = await start_with_partners(web=web_partner(max_invalid_per_address=3))
    for _ in range(3):
        response = await client.get(
            "/v1/login/redirect", params={"partner": "web", "token": forged()}, allow_redirects=False
        )
        assert "error=Invalid+token" in response.headers["Location"]
    locked = await client.get(
        "/v1/login/redirect",
        params={"partner": "web", "token": keys.token(jti="j-redirect")},
        allow_redirects=False,
    )
    assert locked.status == 302 and "custom_token" not in locked.headers["Location"]
    assert "error=Too+many+attempts" in locked.headers["Location"]


async def test_bridge_unlock_lets_a_locked_out_user_and_address_back_in(
    aiohttp_client, make_settings, partner_server, shop, keys, monkeypatch, mongodb_uri, database_name
):
    """How a locked-out user gets back in before the window ends: an operator runs `bridge unlock`."""
    partner_server.login_delay = 0.0
    settings = make_settings(extra_partners={"shop": shop}, trusted_proxies=frozenset({"127.0.0.1"}))
    client = await aiohttp_client(create_app(settings))
    monkeypatch.setenv("BRIDGE_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("BRIDGE_MONGODB_DATABASE", database_name)
    for n in range(LIMIT):
        await password_login(client, "ann", f"guess-{n}")
    assert (await password_login(client, "Ann", PASSWORD)).status == 429
    attacker = {"X-Forwarded-For": "203.0.113.50"}
    for n in range(30):
        await token_login(client, "acme", forged(n=n), **attacker)
    assert (await token_login(client, "acme", keys.token(), **attacker)).status == 429

    unlock_user = ["unlock", "--partner", "shop", "--username", " ANN "]
    assert await asyncio.to_thread(main, unlock_user) == 0
    assert (await password_login(client, "ann", PASSWORD)).status == 200
    unlock_address = ["unlock", "--partner", "acme", "--address", "203.0.113.50"]
    assert await asyncio.to_thread(main, unlock_address) == 0
    assert (await token_login(client, "acme", keys.token(), **attacker)).status == 200


async def test_a_second_forwarded_for_header_line_counts_as_appended(aiohttp_client, make_settings, keys):
    """Found from outside: with a trusted proxy that adds its own `X-Forwarded-For` line (HAProxy's
    `option forwardfor`) instead of appending to the client's, bridge read only the first line,
    which the client wrote: rotating it escaped the per-address throttle. Repeated header lines
    are one comma-separated list (RFC 9110 §5.3), so the proxy's entry is the right-most."""
    from multidict import CIMultiDict

    client = await aiohttp_client(create_app(make_settings(trusted_proxies=frozenset({"127.0.0.1"}))))

    def through_proxy(spoofed: str) -> CIMultiDict[str]:
        return CIMultiDict([("X-Forwarded-For", spoofed), ("X-Forwarded-For", "203.0.113.77")])

    statuses = []
    for n in range(31):
        answer = await client.post(
            "/v1/login", json={"partner": "acme", "token": forged(n=n)}, headers=through_proxy(f"10.9.0.{n}")
        )
        statuses.append(answer.status)

    assert statuses == [401] * 30 + [429]
    other = await client.post(
        "/v1/login",
        json={"partner": "acme", "token": keys.token(sub="friend")},
        headers={"X-Forwarded-For": "198.51.100.77"},
    )
    assert other.status == 200
