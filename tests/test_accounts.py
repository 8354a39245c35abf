"""POST /v1/accounts: one user in MongoDB and in the Auth emulator, idempotent, race-safe."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import jwt
import pytest
from firebase_admin import auth

from bridge.store.api_keys import ApiKeys


@pytest.fixture
async def writer(db) -> dict[str, str]:
    _, key = await ApiKeys(db).create("acme-backend", {"accounts:write"})
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def firebase_user(app: Any, uid: str) -> auth.UserRecord | None:
    try:
        return await asyncio.to_thread(auth.get_user, uid, app=app)
    except auth.UserNotFoundError:
        return None


async def test_creates_the_account_in_both_stores_with_one_uid(client, writer, db, firebase_admin_app):
    external_id = unique("emp")
    email = f"{external_id}@acme.test"
    phone = f"+1555{uuid.uuid4().int % 10**7:07d}"  # unique: the emulator outlives each test
    response = await client.post(
        "/v1/accounts",
        headers=writer,
        json={
            "partner": "acme",
            "external_id": external_id,
            "email": email,
            "display_name": "Dee",
            "phone": phone,
            "claims": {"role": "staff"},
        },
    )

    assert response.status == 201, await response.text()
    body = await response.json()
    uid = f"acme:{external_id}"
    assert body["created"] is True
    assert body["user"]["uid"] == uid and body["user"]["email"] == email
    assert body["user"]["phone_number"] == phone and body["user"]["disabled"] is False
    assert jwt.decode(body["custom_token"], options={"verify_signature": False})["uid"] == uid
    stored = await db.users.find_one({"uid": uid})
    assert stored["custom_claims"] == {"role": "staff"} and stored["login_count"] == 0
    record = await firebase_user(firebase_admin_app, uid)
    assert record is not None
    assert (record.email, record.display_name, record.phone_number) == (email, "Dee", phone)
    assert record.custom_claims == {"role": "staff"}


async def test_the_same_account_again_is_200_and_unchanged(client, writer, db):
    external_id = unique("emp")
    first = await client.post(
        "/v1/accounts",
        headers=writer,
        json={"partner": "acme", "external_id": external_id, "display_name": "First"},
    )
    again = await client.post(
        "/v1/accounts",
        headers=writer,
        json={"partner": "acme", "external_id": external_id, "display_name": "Second"},
    )
    assert first.status == 201 and again.status == 200
    assert (await again.json())["created"] is False
    assert (await again.json())["user"]["display_name"] == "First"
    assert await db.users.count_documents({"external_id": external_id}) == 1


async def test_ten_concurrent_identical_requests_make_one_account_in_each_store(
    client, writer, db, firebase_admin_app
):
    external_id = unique("race")
    body = {"partner": "acme", "external_id": external_id, "email": f"{external_id}@acme.test"}

    responses = await asyncio.gather(
        *(client.post("/v1/accounts", headers=writer, json=body) for _ in range(10))
    )

    assert sorted(r.status for r in responses) == [200] * 9 + [201]
    assert await db.users.count_documents({"external_id": external_id}) == 1
    page = await asyncio.to_thread(auth.list_users, app=firebase_admin_app)
    assert [u.uid for u in page.users].count(f"acme:{external_id}") == 1


async def test_idempotency_key_replays_and_refuses_a_different_body(client, writer, db):
    external_id = unique("idem")
    key = {"Idempotency-Key": unique("key"), **writer}
    body = {"partner": "acme", "external_id": external_id}

    first = await client.post("/v1/accounts", headers=key, json=body)
    replay = await client.post("/v1/accounts", headers=key, json=body)
    other = await client.post("/v1/accounts", headers=key, json={**body, "display_name": "changed"})

    assert first.status == 201
    assert replay.status == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert (await replay.json())["user"]["uid"] == (await first.json())["user"]["uid"]
    assert other.status == 422
    assert (await other.json())["type"] == "/problems/idempotency-key-reused"
    assert await db.users.count_documents({"external_id": external_id}) == 1
    stored = await db.idempotency_keys.find_one({})
    assert "custom_token" not in str(stored)  # no credential is kept for replays


async def test_an_email_of_another_firebase_user_is_409_and_mongodb_stays_consistent(
    client, writer, db, firebase_admin_app
):
    email = f"{unique('taken')}@acme.test"
    await asyncio.to_thread(auth.create_user, uid=unique("other"), email=email, app=firebase_admin_app)
    external_id = unique("late")

    response = await client.post(
        "/v1/accounts", headers=writer, json={"partner": "acme", "external_id": external_id, "email": email}
    )

    assert response.status == 409
    assert (await response.json())["type"] == "/problems/account-conflict"
    assert await db.users.count_documents({"external_id": external_id}) == 0
    assert await firebase_user(firebase_admin_app, f"acme:{external_id}") is None


async def test_session_on_request(client, writer):
    response = await client.post(
        "/v1/accounts", headers=writer, json={"partner": "acme", "external_id": unique("s"), "session": True}
    )
    session = (await response.json())["session"]
    assert session["id_token"] and session["refresh_token"]


@pytest.mark.parametrize(
    "body",
    [
        {"partner": "acme"},
        {"partner": "acme", "external_id": {"$ne": None}},
        {"partner": "acme", "external_id": "x", "email": "not-an-email"},
        {"partner": "acme", "external_id": "x", "phone": "555-1234"},
        {"partner": "acme", "external_id": "x", "claims": {"sub": "admin"}},
        {"partner": "acme", "external_id": "x", "claims": {"blob": "x" * 1200}},
        {"partner": "acme", "external_id": "x", "disabled": "yes"},
        {"partner": "nobody", "external_id": "x"},
    ],
)
async def test_invalid_bodies_are_400_and_change_nothing(client, writer, db, body):
    response = await client.post("/v1/accounts", headers=writer, json=body)
    assert response.status == 400
    assert await db.users.count_documents({}) == 0


async def test_accounts_need_the_accounts_write_scope(client, db):
    _, minter = await ApiKeys(db).create("minter", {"tokens:mint"})
    body = {"partner": "acme", "external_id": "x"}
    assert (await client.post("/v1/accounts", json=body)).status == 401
    assert (
        await client.post("/v1/accounts", json=body, headers={"Authorization": f"Bearer {minter}"})
    ).status == 403
    assert await db.users.count_documents({}) == 0


async def test_a_disabled_account_cannot_log_in(client, writer, keys, db):
    external_id = unique("off")
    created = await client.post(
        "/v1/accounts", headers=writer, json={"partner": "acme", "external_id": external_id, "disabled": True}
    )
    assert created.status == 201
    login = await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub=external_id)})
    assert login.status == 403
    assert (await db.users.find_one({"external_id": external_id}))["login_count"] == 0
