"""Email identifiers (issue 10 §7), over HTTP: one user per mailbox whatever the case, and
`require_email_verified`."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.identity import normalised_email
from bridge.store.api_keys import ApiKeys

from partner_tokens import acme_like


def mail_partner(**options: Any) -> dict[str, Any]:
    return acme_like(**{"user_id_claim": "email", **options})


@pytest.fixture
async def client(start_with_partners) -> Any:
    return await start_with_partners(
        mail=mail_partner(),
        exact=mail_partner(casefold_email_local_part=False),
        verified=mail_partner(require_email_verified=True),
        verified_sub=mail_partner(require_email_verified=True, user_id_claim="sub"),
    )


async def login(client: Any, keys: Any, partner: str, **claims: Any) -> Any:
    return await client.post("/v1/login", json={"partner": partner, "token": keys.token(**claims)})


async def uid_of(client: Any, keys: Any, partner: str, email: str) -> str:
    response = await login(client, keys, partner, email=email)
    assert response.status == 200, await response.text()
    uid: str = (await response.json())["user"]["uid"]
    return uid


async def test_one_user_per_mailbox_whatever_the_case(client, keys, db):
    spellings = ["Ann@Arcana.Example", "ann@arcana.example", "ANN@ARCANA.EXAMPLE", " ann@Arcana.example "]
    uids = {await uid_of(client, keys, "mail", email) for email in spellings}
    assert uids == {"mail:ann@arcana.example"}
    assert await db.users.count_documents({"partner": "mail"}) == 1
    assert (await db.users.find_one({"partner": "mail"}))["email"] == "ann@arcana.example"


async def test_the_local_part_can_stay_case_sensitive(client, keys, db):
    assert await uid_of(client, keys, "exact", "Ann@Arcana.Example") == "exact:Ann@arcana.example"
    assert await uid_of(client, keys, "exact", "Ann@ARCANA.example") == "exact:Ann@arcana.example"
    assert await uid_of(client, keys, "exact", "ann@arcana.example") == "exact:ann@arcana.example"
    assert await db.users.count_documents({"partner": "exact"}) == 2


async def test_accounts_and_custom_tokens_use_the_normalised_id(client, keys, db):
    _, key = await ApiKeys(db).create("backend", {"accounts:write", "tokens:mint"})
    headers = {"Authorization": f"Bearer {key}"}
    made = await client.post(
        "/v1/accounts", headers=headers, json={"partner": "mail", "external_id": "Bea@Arcana.Example"}
    )
    assert made.status == 201
    assert (await made.json())["user"]["uid"] == "mail:bea@arcana.example"
    assert await uid_of(client, keys, "mail", "bea@arcana.example") == "mail:bea@arcana.example"
    minted = await client.post(
        "/v1/custom-tokens", headers=headers, json={"partner": "mail", "external_id": "BEA@arcana.example"}
    )
    assert minted.status == 200
    assert await db.users.count_documents({"partner": "mail"}) == 1


@pytest.mark.parametrize(
    ("claims", "status", "users"),
    [
        ({"email": "v@arcana.example", "email_verified": True}, 200, 1),
        ({"email": "v@arcana.example", "email_verified": False}, 401, 0),
        ({"email": "v@arcana.example", "email_verified": "true"}, 401, 0),
        ({"email": "v@arcana.example", "email_verified": 1}, 401, 0),
        ({"email": "v@arcana.example"}, 401, 0),
    ],
)
async def test_require_email_verified_when_the_email_is_the_id(client, keys, db, claims, status, users):
    response = await login(client, keys, "verified", **claims)
    assert response.status == status
    assert await db.users.count_documents({}) == users


@pytest.mark.parametrize(
    ("claims", "status", "users"),
    [
        ({"sub": "s1", "email": "s1@arcana.example", "email_verified": True}, 200, 1),
        ({"sub": "s1", "email": "s1@arcana.example"}, 401, 0),
        ({"sub": "s1", "email": "s1@arcana.example", "email_verified": "yes"}, 401, 0),
        ({"sub": "s1"}, 200, 1),  # no email goes into the record: nothing to verify
    ],
)
async def test_require_email_verified_when_the_email_goes_into_the_record(
    client, keys, db, claims, status, users
):
    response = await login(client, keys, "verified_sub", **claims)
    assert response.status == status
    assert await db.users.count_documents({}) == users


def test_normalised_email():
    assert normalised_email("Ann@Arcana.Example") == "ann@arcana.example"
    assert normalised_email("Ann@Arcana.Example", casefold_local_part=False) == "Ann@arcana.example"
    assert normalised_email('"A@B"@Example.COM') == '"a@b"@example.com'
    assert normalised_email("no-at-sign") == "no-at-sign"
