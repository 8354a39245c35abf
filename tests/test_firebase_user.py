"""firebase_user = "on_sign_in" | "on_first_login": when the Firebase Auth user of a login appears,
and "pending first sign-in" as a neutral state in the admin verdict and reconcile."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from firebase_admin import auth
from test_admin import cli, cli_env, wipe_emulator  # noqa: F401  (cli_env: a fixture used below)

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys
from bridge.web.keys import FIREBASE_AUTH

from fault_proxy import FaultProxy
from partner_tokens import acme_like


def partner(firebase_user: str) -> dict[str, Any]:
    return acme_like(firebase_user=firebase_user)


@pytest.fixture
async def as_admin(db) -> dict[str, str]:
    _, admin = await ApiKeys(db).create("ops", {"admin"})
    return {"Authorization": f"Bearer {admin}"}


async def login(client: Any, partner_id: str, token: str) -> dict[str, Any]:
    response = await client.post("/v1/login", json={"partner": partner_id, "token": token})
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


@pytest.mark.usefixtures("cli_env")
async def test_a_login_only_user_is_pending_not_drift_until_the_app_signs_in(
    start_with_partners, keys, as_admin, auth_emulator_host, capsys
):
    wipe_emulator(auth_emulator_host)
    client = await start_with_partners(app=partner("on_sign_in"))
    answer = await login(client, "app", keys.token(sub="newbie", email="newbie@acme.test"))
    uid = answer["user"]["uid"]

    state = await (await client.get(f"/admin/v1/users/{uid}", headers=as_admin)).json()
    assert state["firebase"] is None
    assert state["verdict"] == {"consistent": True, "differences": [], "state": "pending first sign-in"}
    report = await (await client.get("/admin/v1/reconcile", headers=as_admin)).json()
    assert report["pending_first_sign_in"] == [uid]
    assert report["missing_in_firebase"] == [] and report["consistent"] is True
    code, out = await cli(capsys, "admin", "reconcile")
    pending_line = next(line for line in out.splitlines() if line.startswith("pending first sign-in:"))
    assert code == 0 and pending_line.split()[3:] == ["1", uid]
    labels = ("missing in Firebase:", "missing in MongoDB:", "differing:", "pending first sign-in:")
    rows = [line for line in out.splitlines() if line.startswith(labels)]
    count_ends = {re.match(r"[^:]+:\s+\d+", row).end() for row in rows}  # type: ignore[union-attr]
    assert len(rows) == 4 and len(count_ends) == 1, out  # the counts form one column
    page = await client.get("/admin", headers=as_admin)
    assert "pending first sign-in" in await page.text() and "missing in Firebase" not in await page.text()

    # the app signs in with its custom token: Firebase creates the user, the verdict is plain consistent
    signed_in = await client.post("/v1/sessions", json={"custom_token": answer["custom_token"]})
    assert signed_in.status == 200
    state = await (await client.get(f"/admin/v1/users/{uid}", headers=as_admin)).json()
    assert state["verdict"]["state"] == "consistent" and state["firebase"]["uid"] == uid


async def test_an_account_user_missing_in_firebase_is_still_drift(start_with_partners, keys, as_admin, db):
    client = await start_with_partners()
    _, writer = await ApiKeys(db).create("backend", {"accounts:write"})
    created = await client.post(
        "/v1/accounts",
        headers={"Authorization": f"Bearer {writer}"},
        json={"partner": "acme", "external_id": "acc"},
    )
    uid = (await created.json())["user"]["uid"]
    await client.app[FIREBASE_AUTH].delete_user(uid)  # someone deleted it in the Firebase console
    state = await (await client.get(f"/admin/v1/users/{uid}", headers=as_admin)).json()
    assert state["verdict"]["state"] == "drift" and state["verdict"]["consistent"] is False


async def test_on_first_login_creates_the_firebase_user_during_the_login(
    start_with_partners, keys, as_admin, firebase_admin_app, db
):
    client = await start_with_partners(ff=partner("on_first_login"))

    answer = await login(client, "ff", keys.token(sub="first", email="first@acme.test", name="First Person"))

    record = await asyncio.to_thread(auth.get_user, "ff:first", app=firebase_admin_app)
    assert (record.email, record.display_name) == ("first@acme.test", "First Person")
    assert (await db.users.find_one({"uid": "ff:first"}))["firebase_user"] == "created"
    state = await (await client.get("/admin/v1/users/ff:first", headers=as_admin)).json()
    assert state["verdict"]["state"] == "consistent"
    again = await login(client, "ff", keys.token(sub="first", email="first@acme.test"))
    assert again["user"]["login_count"] == 2 and answer["user"]["uid"] == "ff:first"


async def test_on_first_login_with_firebase_down_is_a_503_and_the_next_login_retries(
    aiohttp_client,
    aiohttp_server,
    make_settings,
    keys,
    auth_emulator_host,
    firebase_admin_app,
    db,
    monkeypatch,
):
    proxy = FaultProxy(upstream=f"http://{auth_emulator_host}", allow=0)
    running = await aiohttp_server(proxy.app())
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{running.port}")
    client = await aiohttp_client(create_app(make_settings(extra_partners={"ff": partner("on_first_login")})))
    token = keys.token(sub="down", email="down@acme.test")

    refused = await client.post("/v1/login", json={"partner": "ff", "token": token})

    assert refused.status == 503
    assert (
        refused.headers["Retry-After"] and (await refused.json())["type"] == "/problems/firebase-unavailable"
    )
    assert (await db.users.find_one({"uid": "ff:down"}))["firebase_user"] == "on_first_login"
    proxy.allow = None  # Firebase is back: the next login makes the user
    assert (await client.post("/v1/login", json={"partner": "ff", "token": token})).status == 200
    record = await asyncio.to_thread(auth.get_user, "ff:down", app=firebase_admin_app)
    assert record.email == "down@acme.test"


async def test_records_from_before_the_field_count_as_pending_when_only_logins_wrote_them(
    start_with_partners, keys, as_admin, db
):
    client = await start_with_partners()
    await login(client, "acme", keys.token(sub="legacy"))
    await db.users.update_one({"uid": "acme:legacy"}, {"$unset": {"firebase_user": ""}})
    await db.users.insert_one(
        {"uid": "acme:acct", "partner": "acme", "external_id": "acct", "custom_claims": {}, "login_count": 0}
    )
    legacy = await (await client.get("/admin/v1/users/acme:legacy", headers=as_admin)).json()
    account = await (await client.get("/admin/v1/users/acme:acct", headers=as_admin)).json()
    assert legacy["verdict"]["state"] == "pending first sign-in"
    assert account["verdict"]["state"] == "drift"
