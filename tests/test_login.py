"""POST /v1/login: the happy paths, through a real mongod."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt

from bridge.identity import MAX_UID_LENGTH

from partner_tokens import PartnerKeys


async def login(client: Any, partner: str, token: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/login", json={"partner": partner, "token": token})
    return response.status, await response.json()


async def test_first_login_creates_the_user_and_returns_a_custom_token(client, keys: PartnerKeys, db):
    token = keys.token(
        sub="alice", email="alice@acme.test", name="Alice A", role="editor", plan={"tier": "gold"}
    )
    status, body = await login(client, "acme", token)

    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["jwt_token"] == body["custom_token"]
    assert jwt.decode(body["custom_token"], options={"verify_signature": False})["uid"] == "acme:alice"
    user = body["user"]
    assert user["uid"] == "acme:alice"
    assert user["partner"] == "acme"
    assert user["external_id"] == "alice"
    assert user["email"] == "alice@acme.test"
    assert user["display_name"] == "Alice A"
    assert user["claims"] == {"via": "acme", "role": "editor", "tier": "gold"}
    assert user["login_count"] == 1
    assert datetime.fromisoformat(user["created_at"]) == datetime.fromisoformat(user["last_login_at"])

    stored = await db.users.find_one({"uid": "acme:alice"})
    assert stored is not None
    assert stored["partner"] == "acme" and stored["external_id"] == "alice"
    assert stored["email"] == "alice@acme.test" and stored["login_count"] == 1
    assert isinstance(stored["created_at"], datetime)


async def test_a_second_login_updates_the_profile_and_counts(client, keys: PartnerKeys, db):
    await login(client, "acme", keys.token(sub="bob", email="old@acme.test", role="viewer"))
    status, body = await login(client, "acme", keys.token(sub="bob", email="new@acme.test"))

    assert status == 200
    assert body["user"]["login_count"] == 2
    assert body["user"]["email"] == "new@acme.test"
    # claims follow the latest credential: `role` is gone because the new token has none
    assert body["user"]["claims"] == {"via": "acme"}
    assert body["user"]["created_at"] < body["user"]["last_login_at"]
    assert await db.users.count_documents({}) == 1


async def test_token_may_come_as_a_bearer_header(client, keys: PartnerKeys):
    response = await client.post(
        "/v1/login", json={"partner": "acme"}, headers={"Authorization": f"Bearer {keys.token(sub='carol')}"}
    )
    assert response.status == 200
    assert (await response.json())["user"]["uid"] == "acme:carol"


async def test_two_different_tokens_in_body_and_header_are_refused(client, keys: PartnerKeys, db):
    response = await client.post(
        "/v1/login",
        json={"partner": "acme", "token": keys.token(sub="a")},
        headers={"Authorization": f"Bearer {keys.token(sub='b')}"},
    )
    assert response.status == 400
    assert await db.users.count_documents({}) == 0


async def test_rsa_partner_with_an_audience_list(client, keys: PartnerKeys):
    status, body = await login(client, "rsa-co", keys.token("rsa-co", sub="r1"))
    assert status == 200
    assert body["user"]["uid"] == "rsa-co:r1"


async def test_ec_partner_keyed_by_email(client, keys: PartnerKeys):
    status, body = await login(client, "ec-co", keys.token("ec-co", email="dana@ec.test"))
    assert status == 200
    assert body["user"]["uid"] == "ec-co:dana@ec.test"
    assert body["user"]["external_id"] == "dana@ec.test"


async def test_custom_nested_user_id_claim_with_a_numeric_value(client, keys: PartnerKeys):
    token = keys.token("staff", algorithm="HS512", employee={"number": 4711}, full_name="Erin")
    status, body = await login(client, "staff", token)
    assert status == 200
    assert body["user"]["uid"] == "staff:4711"
    assert body["user"]["display_name"] == "Erin"


async def test_very_long_external_ids_get_a_deterministic_short_uid(client, keys: PartnerKeys, db):
    long_id = "x" * 300
    _, first = await login(client, "acme", keys.token(sub=long_id))
    _, again = await login(client, "acme", keys.token(sub=long_id))

    uid = first["user"]["uid"]
    assert uid.startswith("acme:sha256:") and len(uid) <= MAX_UID_LENGTH
    assert again["user"]["uid"] == uid
    assert again["user"]["external_id"] == long_id
    assert again["user"]["login_count"] == 2
