"""A stalled Firebase cannot hold bridge: with the Auth emulator stopped (SIGSTOP), every
Firebase-dependent route answers 503 + Retry-After within its timeout + 5 s, 12 concurrent calls all
answer, a full queue answers at once, and logins without a session keep answering 200. And what a
login that fails half-way leaves behind: the user record, not a counted login, not a spent token."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_claim_rules import rules_partner
from test_firebase_user import partner as firebase_user_partner
from test_partner_routes import token_partner

from bridge.app import FIREBASE_QUEUE, FIREBASE_THREADS, create_app
from bridge.store.api_keys import ApiKeys

from conftest import PROJECT_ID
from stack import AuthEmulator, free_port

TIMEOUT = 2.0


@pytest.fixture
def own_emulator(auth_emulator_host: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuthEmulator]:
    """An Auth emulator of this test's own (it gets stopped), used by the apps created here."""
    emulator = AuthEmulator(PROJECT_ID).start()
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", emulator.host)
    try:
        yield emulator
    finally:
        assert emulator.process is not None
        emulator.process.send_signal(signal.SIGCONT)
        emulator.stop()


async def timed(call: Any) -> tuple[int, float, dict[str, str]]:
    started = time.monotonic()
    response = await call
    await response.read()
    return response.status, time.monotonic() - started, dict(response.headers)


async def ops_key_and_session(
    client: Any, keys: Any, db: Any, scope: str
) -> tuple[dict[str, str], dict[str, Any]]:
    """Before the stall: an admin key (with `scope` too) as headers, and acme:stall's login with a session."""
    _, admin_key = await ApiKeys(db).create("ops", {"admin", scope})
    login = {"partner": "acme", "token": keys.token(sub="stall"), "session": True}
    signed_in: dict[str, Any] = await (await client.post("/v1/login", json=login)).json()
    return {"Authorization": f"Bearer {admin_key}"}, signed_in


async def test_stalled_auth_emulator_every_firebase_route_answers_in_time_and_logins_go_on(
    aiohttp_client, make_settings, keys, db, own_emulator
):
    client = await aiohttp_client(create_app(make_settings(firebase_timeout_seconds=TIMEOUT)))
    bearer, signed_in = await ops_key_and_session(client, keys, db, "accounts:write")
    assert own_emulator.process is not None
    own_emulator.process.send_signal(signal.SIGSTOP)

    def account(n: int) -> Any:
        return client.post(
            "/v1/accounts", headers=bearer, json={"partner": "acme", "external_id": f"stalled-{n}"}
        )

    calls = {
        "accounts": account(0),
        "cookie": client.post(
            "/v1/sessions/cookie", json={"id_token": signed_in["id_token"], "expires_in": 3600}
        ),
        "admin": client.get("/admin/v1/users/acme:stall", headers=bearer),
        "session login": client.post(
            "/v1/login", json={"partner": "acme", "token": keys.token(sub="stall-2"), "session": True}
        ),
    }
    answers = dict(zip(calls, await asyncio.gather(*(timed(c) for c in calls.values())), strict=True))
    print("stalled firebase, per route (status, seconds):", {r: a[:2] for r, a in answers.items()})
    for route, (status, seconds, headers) in answers.items():
        assert status == 503, route
        assert headers.get("Retry-After"), route
        assert seconds <= TIMEOUT + 5, (route, seconds)

    # 12 concurrent Firebase calls (the pool has 8 threads) all answer, while logins go on.
    logins = [
        client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub=f"go-on-{n}")})
        for n in range(20)
    ]
    results = await asyncio.gather(*(timed(account(n)) for n in range(1, 13)), *(timed(c) for c in logins))
    concurrent, during = results[:12], results[12:]
    assert [status for status, _, _ in concurrent] == [503] * 12
    assert max(seconds for _, seconds, _ in concurrent) <= TIMEOUT + 5
    assert [status for status, _, _ in during] == [200] * 20
    print(
        "12 concurrent: max",
        max(s for _, s, _ in concurrent),
        "logins meanwhile max",
        max(s for _, s, _ in during),
    )

    # More calls than threads + queue: the ones beyond answer 503 at once, without waiting.
    burst = FIREBASE_THREADS + FIREBASE_QUEUE + 4
    statuses = await asyncio.gather(*(timed(account(100 + n)) for n in range(burst)))
    assert all(status == 503 and headers.get("Retry-After") for status, _, headers in statuses)
    quick = [seconds for _, seconds, _ in statuses if seconds < TIMEOUT / 2]
    print("burst", burst, "quick 503s", len(quick), "max", max(s for _, s, _ in statuses))
    assert len(quick) >= 4
    assert max(seconds for _, seconds, _ in statuses) <= TIMEOUT + 5

    own_emulator.process.send_signal(signal.SIGCONT)

    async def recovered() -> int:
        status, _, _ = await timed(account(999))
        return status

    deadline = time.monotonic() + 60
    while (status := await recovered()) == 503:
        assert time.monotonic() < deadline, "Firebase calls did not recover"
        await asyncio.sleep(0.2)
    assert status == 201


async def test_stalled_auth_emulator_every_other_firebase_route_and_admin_page_answers_503_in_time(
    aiohttp_client, make_settings, keys, db, own_emulator
):
    settings = make_settings(
        extra_partners={
            "first": firebase_user_partner("on_first_login"),
            "ff": token_partner(path="/ff/login", contract="flutterflow"),
            "st": token_partner(path="/st/login", contract="strapi"),
        },
        firebase_timeout_seconds=TIMEOUT,
    )
    client = await aiohttp_client(create_app(settings))
    bearer, signed_in = await ops_key_and_session(client, keys, db, "tokens:mint")
    minted = await (await client.post("/v1/custom-tokens", headers=bearer, json={"uid": "acme:stall"})).json()
    assert own_emulator.process is not None
    own_emulator.process.send_signal(signal.SIGSTOP)
    as_user = {"Authorization": f"Bearer {signed_in['id_token']}"}
    user = "/admin/v1/users/acme:stall"

    calls = {
        "sessions": client.post("/v1/sessions", json={"custom_token": minted["custom_token"]}),
        "refresh": client.post("/v1/sessions/refresh", json={"refresh_token": signed_in["refresh_token"]}),
        "logout": client.post("/v1/logout", headers=as_user),
        "admin disable": client.post(f"{user}/disable", headers=bearer),
        "admin revoke": client.post(f"{user}/revoke", headers=bearer),
        "admin claims": client.put(f"{user}/claims", headers=bearer, json={"claims": {"a": 1}}),
        "admin delete": client.delete("/admin/v1/users/acme:other", headers=bearer),
        "admin reconcile": client.get("/admin/v1/reconcile", headers=bearer),
        "admin page": client.get("/admin/users/acme:stall", headers=bearer),
        "admin page action": client.post("/admin/users/acme:stall/disable", headers=bearer),
        "on_first_login partner": client.post(
            "/v1/login", json={"partner": "first", "token": keys.token(sub="f1")}
        ),
        "flutterflow route": client.post("/ff/login", json={"token": keys.token(sub="ff1")}),
        "strapi route": client.post("/st/login", json={"token": keys.token(sub="st1")}),
    }
    logins = [
        client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub=f"on-{n}")})
        for n in range(10)
    ]
    results = await asyncio.gather(*(timed(c) for c in calls.values()), *(timed(c) for c in logins))
    answers = dict(zip(calls, results[: len(calls)], strict=True))
    print("stalled firebase, per route (status, seconds):", {r: a[:2] for r, a in answers.items()})
    for route, (status, seconds, headers) in answers.items():
        assert (route, status) == (route, 503)
        assert headers.get("Retry-After"), route
        assert seconds <= TIMEOUT + 5, (route, seconds)
    assert [status for status, _, _ in results[len(calls) :]] == [200] * 10


async def test_a_session_login_failing_at_firebase_keeps_the_record_counts_nothing_gives_the_token_back(
    aiohttp_client, make_settings, keys, db, auth_emulator_host
):
    partners = {"strict": rules_partner(single_use=True)}
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: the session API is down
    broken = await aiohttp_client(
        create_app(
            make_settings(
                extra_partners=partners, identity_toolkit_url=down, firebase_timeout_seconds=TIMEOUT
            )
        )
    )
    body = {"partner": "strict", "token": keys.token(sub="half", jti=secrets.token_hex(8)), "session": True}

    failed = await broken.post("/v1/login", json=body)

    assert failed.status == 503 and failed.headers["Retry-After"]
    kept = await db.users.find_one({"uid": "strict:half"})
    assert kept is not None  # the partner credential was valid: the record is kept
    assert kept["login_count"] == 0 and "last_login_at" not in kept  # but no login is counted
    assert await db.used_tokens.count_documents({}) == 0  # the single-use token was given back

    working = await aiohttp_client(create_app(make_settings(extra_partners=partners)))
    again = await working.post("/v1/login", json=body)
    assert again.status == 200
    assert (await again.json())["user"]["login_count"] == 1
    assert (await working.post("/v1/login", json=body)).status == 401  # now it is spent
