"""uid collisions (issue 10 §4): the long-id fallback namespace cannot be reached from any external
id, and every remaining uid conflict is a 409 /problems/uid-conflict, never a 500."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import pytest

from bridge.store.api_keys import ApiKeys

from partner_tokens import acme_like

LONG_ID = "L" * 200
LONG_UID = "acme:sha256:" + hashlib.sha256(LONG_ID.encode()).hexdigest()


def twin(**options: Any) -> dict[str, Any]:
    """A partner sharing acme's issuer and secret, with its own uid_format."""
    return acme_like(**options)


@pytest.fixture
async def writer(db) -> dict[str, str]:
    _, key = await ApiKeys(db).create("backend", {"accounts:write"})
    return {"Authorization": f"Bearer {key}"}


async def login(client: Any, token: str, partner: str = "acme") -> Any:
    return await client.post("/v1/login", json={"partner": partner, "token": token})


@pytest.mark.parametrize("order", ["long-id first", "impostor first"])
async def test_an_external_id_shaped_like_a_fallback_uid_never_reaches_it(client, keys, db, order):
    impostor_id = LONG_UID.removeprefix("acme:")  # literally `sha256:<hex of the long id>`
    tokens = {"long": keys.token(sub=LONG_ID), "impostor": keys.token(sub=impostor_id)}
    sequence = ["long", "impostor"] if order == "long-id first" else ["impostor", "long"]

    answers = {}
    for who in sequence * 2:  # and again: the second login of each works as well
        response = await login(client, tokens[who])
        assert response.status == 200, await response.text()
        answers[who] = (await response.json())["user"]["uid"]

    assert answers["long"] == LONG_UID
    assert answers["impostor"] != LONG_UID
    assert answers["impostor"] == "acme:sha256:" + hashlib.sha256(impostor_id.encode()).hexdigest()
    assert await db.users.count_documents({}) == 2


async def test_accounts_with_a_fallback_shaped_id_get_their_own_uid(client, keys, writer, db):
    impostor_id = LONG_UID.removeprefix("acme:")
    long_account = await client.post(
        "/v1/accounts", headers=writer, json={"partner": "acme", "external_id": LONG_ID}
    )
    impostor = await client.post(
        "/v1/accounts", headers=writer, json={"partner": "acme", "external_id": impostor_id}
    )
    assert long_account.status == 201 and impostor.status == 201, await impostor.text()
    assert (await long_account.json())["user"]["uid"] == LONG_UID
    assert (await impostor.json())["user"]["uid"] != LONG_UID
    # The login of the long-id user still finds its own account.
    assert (await (await login(client, keys.token(sub=LONG_ID))).json())["user"]["uid"] == LONG_UID


async def test_two_partners_formatting_the_same_uid_get_409_not_500(start_with_partners, keys, db):
    client = await start_with_partners(
        bare=twin(uid_format="{external_id}"), also=twin(uid_format="{external_id}", single_use=True)
    )
    first = await login(client, keys.token(sub="same-id"), "bare")
    assert first.status == 200
    jti = secrets.token_hex(6)

    for _ in range(3):  # forever 409, never 500
        second = await login(client, keys.token(sub="same-id", jti=jti), "also")
        assert second.status == 409
        problem = await second.json()
        assert second.content_type == "application/problem+json"
        assert problem["type"] == "/problems/uid-conflict"
        assert "uid_format" in problem["detail"]
    assert await db.users.count_documents({}) == 1
    # The single-use token was not spent by the refused logins.
    assert await db.used_tokens.count_documents({}) == 0


async def test_accounts_conflicting_on_uid_get_409(start_with_partners, keys, db):
    client = await start_with_partners(
        bare=twin(uid_format="{external_id}"), also=twin(uid_format="{external_id}")
    )
    _, key = await ApiKeys(db).create("backend", {"accounts:write"})
    writer = {"Authorization": f"Bearer {key}"}
    uid = f"shared-{secrets.token_hex(4)}"
    made = await client.post("/v1/accounts", headers=writer, json={"partner": "bare", "external_id": uid})
    assert made.status == 201

    clash = await client.post("/v1/accounts", headers=writer, json={"partner": "also", "external_id": uid})
    login_clash = await login(client, keys.token(sub=uid), "also")

    for response in (clash, login_clash):
        assert response.status == 409
        assert (await response.json())["type"] == "/problems/uid-conflict"
    assert await db.users.count_documents({}) == 1
