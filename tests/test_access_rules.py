"""Access and state rules (issue 10 §6), attacked over HTTP: disabled users get no custom token and
keep their single-use token unspent; API keys bound to a partner act on no other partner's users
on any key route; notification reports are the sender's (and admins'); device moves are audited."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from test_push import finished, push_settings, token

from bridge.app import create_app
from bridge.cli.main import main
from bridge.store.api_keys import ApiKeys

from partner_tokens import ISSUER

HELLO: dict[str, Any] = {"notification": {"title": "Hi", "body": "There"}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ONCE = {
    "kind": "jwt",
    "issuer": ISSUER,
    "audience": "bridge",
    "algorithms": ["HS256"],
    "secret_file": "acme.secret",
    "single_use": True,
}


@pytest.fixture
async def client(aiohttp_client, make_settings, fcm):
    settings = push_settings(make_settings, fcm, extra_partners={"once": ONCE})
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def admin(db) -> dict[str, str]:
    _, key = await ApiKeys(db).create("admin", {"admin", "notifications:send"})
    return bearer(key)


async def log_in(
    client: Any, keys: Any, sub: str, partner: str = "acme", claims: dict[str, Any] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/login", json={"partner": partner, "token": keys.token(sub=sub, **(claims or {})), **body}
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_custom_tokens_are_refused_for_disabled_users(client, keys, db, admin):
    uid = (await log_in(client, keys, "to-disable"))["user"]["uid"]
    _, minter = await ApiKeys(db).create("minter", {"tokens:mint"})
    assert (await client.post("/v1/custom-tokens", headers=bearer(minter), json={"uid": uid})).status == 200
    assert (await client.post(f"/admin/v1/users/{uid}/disable", headers=admin)).status == 200

    by_uid = await client.post("/v1/custom-tokens", headers=bearer(minter), json={"uid": uid})
    by_external = await client.post(
        "/v1/custom-tokens",
        headers=bearer(minter),
        json={"partner": "acme", "external_id": "to-disable"},
    )

    for response in (by_uid, by_external):
        assert response.status == 403
        problem = await response.json()
        assert problem["type"] == "/problems/user-disabled" and "custom_token" not in problem


async def test_a_disabled_users_single_use_token_stays_unspent(client, keys, db, admin):
    first = await client.post(
        "/v1/login", json={"partner": "once", "token": keys.token(sub="d", jti=secrets.token_hex(6))}
    )
    assert first.status == 200
    assert (await client.post("/admin/v1/users/once:d/disable", headers=admin)).status == 200
    spent_before = await db.used_tokens.count_documents({})
    single_use = keys.token(sub="d", jti=secrets.token_hex(6))

    refused = await client.post("/v1/login", json={"partner": "once", "token": single_use})

    assert refused.status == 403
    assert (await refused.json())["type"] == "/problems/user-disabled"
    assert await db.used_tokens.count_documents({}) == spent_before  # not spent
    # Enabled again, the same token still works: it was never used.
    assert (await client.post("/admin/v1/users/once:d/enable", headers=admin)).status == 200
    assert (await client.post("/v1/login", json={"partner": "once", "token": single_use})).status == 200


async def test_cli_binds_a_key_to_a_partner(monkeypatch, mongodb_uri, database_name, db, capsys):
    monkeypatch.setenv("BRIDGE_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("BRIDGE_MONGODB_DATABASE", database_name)
    create = ["api-keys", "create", "--name", "acme-only", "--scope", "tokens:mint", "--partner", "acme"]
    assert await asyncio.to_thread(main, create) == 0
    key_id = capsys.readouterr().out.strip().split("_")[1]
    assert (await db.api_keys.find_one({"_id": key_id}))["partner"] == "acme"
    admin_bound = ["api-keys", "create", "--name", "x", "--scope", "admin", "--partner", "acme"]
    assert await asyncio.to_thread(main, admin_bound) == 2
    with pytest.raises(SystemExit):
        main(["api-keys", "create", "--name", "x", "--scope", "admin", "--partner", "Bad Id!"])


async def test_a_partner_bound_key_acts_on_no_other_partners_users(client, keys, db, fcm):
    scopes = {"accounts:write", "tokens:mint", "notifications:send"}
    _, bound_key = await ApiKeys(db).create("acme-backend", scopes, partner="acme")
    bound = bearer(bound_key)
    own = (await log_in(client, keys, "mine"))["user"]["uid"]
    other = (await log_in(client, keys, "theirs", partner="once", claims={"jti": "j-1"}))["user"]["uid"]
    assert (other, own) == ("once:theirs", "acme:mine")

    me = await (await client.get("/v1/api-keys/me", headers=bound)).json()
    assert me["partner"] == "acme"

    # accounts
    refused = await client.post("/v1/accounts", headers=bound, json={"partner": "once", "external_id": "x"})
    assert refused.status == 403 and "acme" in (await refused.json())["detail"]
    allowed = await client.post("/v1/accounts", headers=bound, json={"partner": "acme", "external_id": "y"})
    assert allowed.status == 201
    assert await db.users.count_documents({"partner": "once", "external_id": "x"}) == 0

    # custom tokens
    assert (await client.post("/v1/custom-tokens", headers=bound, json={"uid": other})).status == 404
    assert (
        await client.post(
            "/v1/custom-tokens", headers=bound, json={"partner": "once", "external_id": "theirs"}
        )
    ).status == 403
    assert (await client.post("/v1/custom-tokens", headers=bound, json={"uid": own})).status == 200

    # devices
    device = {"token": token("bound", 1)}
    for ref in (other, "users/once:theirs"):
        assert (await client.put(f"/v1/users/{ref}/devices", headers=bound, json=device)).status == 404
        assert (await client.delete(f"/v1/users/{ref}/devices", headers=bound, json=device)).status == 404
    assert await db.devices.count_documents({}) == 0
    assert (await client.put(f"/v1/users/{own}/devices", headers=bound, json=device)).status == 201
    _, unbound_key = await ApiKeys(db).create("ops", {"accounts:write", "notifications:send"})
    other_device = {"token": token("theirs", 2)}
    put = await client.put(f"/v1/users/{other}/devices", headers=bearer(unbound_key), json=other_device)
    assert put.status == 201
    # ... and the bound key cannot take that device over for its own user.
    steal = await client.put(f"/v1/users/{own}/devices", headers=bound, json=other_device)
    assert steal.status == 403
    assert (await db.devices.find_one({"_id": other_device["token"]}))["uid"] == other

    # notifications by reference: the other partner's user is unknown to this key
    sent = await client.post("/v1/notifications", headers=bound, json={"recipients": [own, other], **HELLO})
    assert sent.status == 202
    accepted = await sent.json()
    assert accepted["devices"] == 1 and accepted["unknown"] == [other]
    # by audience: another partner is refused, no partner means this key's partner only
    refused_audience = await client.post(
        "/v1/notifications", headers=bound, json={"audience": {"partner": "once"}, **HELLO}
    )
    assert refused_audience.status == 403
    everyone = await client.post("/v1/notifications", headers=bound, json={"audience": {}, **HELLO})
    assert (await everyone.json())["recipients"] == await db.users.count_documents({"partner": "acme"})
    report = await finished(client, bound, (await everyone.json())["id"])
    assert {r["uid"] for r in report["recipients"]} <= {
        u["uid"] async for u in db.users.find({"partner": "acme"})
    }
    assert other_device["token"] not in fcm.sent_tokens()


async def test_reports_are_readable_only_by_the_sending_key_and_admins(client, keys, db, admin):
    uid = (await log_in(client, keys, "reported"))["user"]["uid"]
    _, sender = await ApiKeys(db).create("sender", {"notifications:send"})
    _, snoop = await ApiKeys(db).create("snoop", {"notifications:send"})
    sent = await client.post("/v1/notifications", headers=bearer(sender), json={"recipients": [uid], **HELLO})
    notification_id = (await sent.json())["id"]

    assert (await client.get(f"/v1/notifications/{notification_id}", headers=bearer(sender))).status == 200
    snooped = await client.get(f"/v1/notifications/{notification_id}", headers=bearer(snoop))
    assert snooped.status == 404
    assert (await snooped.json())["type"] == "/problems/unknown-notification"  # no hint it exists
    assert (await client.get(f"/v1/notifications/{notification_id}", headers=admin)).status == 200
    _, admin_only = await ApiKeys(db).create("admin-only", {"admin"})
    assert (
        await client.get(f"/v1/notifications/{notification_id}", headers=bearer(admin_only))
    ).status == 200


async def test_a_device_taken_over_by_another_user_moves_and_is_audited(client, keys, db, admin):
    sessions = {}
    for sub in ("owner", "newcomer"):
        answer = await log_in(client, keys, sub, session=True)
        sessions[sub] = bearer(answer["id_token"])
    shared = token("reinstalled", 3)
    assert (
        await client.put("/v1/me/devices", headers=sessions["owner"], json={"token": shared})
    ).status == 201

    moved = await client.put("/v1/me/devices", headers=sessions["newcomer"], json={"token": shared})

    assert moved.status == 201
    assert (await (await client.get("/v1/me/devices", headers=sessions["owner"])).json())["devices"] == []
    audit = await client.get("/admin/v1/audit", headers=admin, params={"action": "device-moved"})
    entries = (await audit.json())["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == "user:acme:newcomer" and entry["target"] == "acme:owner"
    assert entry["before"]["uid"] == "acme:owner" and entry["after"]["uid"] == "acme:newcomer"
    assert shared not in str(entry) and entry["after"]["token"] == "…" + shared[-8:]
    # Registering again by the same user is no move.
    await client.put("/v1/me/devices", headers=sessions["newcomer"], json={"token": shared})
    again = await client.get("/admin/v1/audit", headers=admin, params={"action": "device-moved"})
    assert len((await again.json())["entries"]) == 1
