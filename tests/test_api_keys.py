"""Backend API keys: the CLI, hashed storage, scopes on routes, revocation."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from bridge.cli.main import main
from bridge.store.api_keys import ApiKeys
from bridge.web.access import requires_scope


@pytest.fixture
def api_keys(db) -> ApiKeys:
    return ApiKeys(db)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_cli_creates_lists_and_revokes_keys(monkeypatch, mongodb_uri, database_name, db, capsys):
    monkeypatch.setenv("BRIDGE_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("BRIDGE_MONGODB_DATABASE", database_name)

    # The CLI runs its own event loop, so it is called in a worker thread here.
    assert (
        await asyncio.to_thread(
            main,
            [
                "api-keys",
                "create",
                "--name",
                "acme-backend",
                "--scope",
                "accounts:write",
                "--scope",
                "tokens:mint",
            ],
        )
        == 0
    )
    plaintext = capsys.readouterr().out.strip()
    assert plaintext.startswith("brk_")
    key_id = plaintext.split("_")[1]

    stored = await db.api_keys.find_one({"_id": key_id})
    assert stored["scopes"] == ["accounts:write", "tokens:mint"]
    assert plaintext.split("_", 2)[2] not in str(stored)  # only the hash is stored

    assert await asyncio.to_thread(main, ["api-keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert key_id in listing and "acme-backend" in listing and "active" in listing
    header, rule, row = listing.splitlines()[:3]
    assert header.split() == ["key", "id", "name", "scopes", "partner", "state"] and set(rule) <= {"-", " "}
    # one column per field, each under its heading, whatever the lengths (4 scopes overflowed)
    assert [row[header.index(h) :].split()[0] for h in ("name", "scopes", "partner", "state")] == [
        "acme-backend",
        "accounts:write,tokens:mint",
        "any",
        "active",
    ]
    assert plaintext not in listing

    assert await asyncio.to_thread(main, ["api-keys", "revoke", key_id]) == 0
    assert (await db.api_keys.find_one({"_id": key_id}))["revoked_at"] is not None
    assert await asyncio.to_thread(main, ["api-keys", "revoke", key_id]) == 1


async def test_a_live_key_identifies_itself(client, api_keys):
    key, plaintext = await api_keys.create("ops", {"admin"})
    for headers in (bearer(plaintext), {"X-Api-Key": plaintext}):
        response = await client.get("/v1/api-keys/me", headers=headers)
        assert response.status == 200
        assert await response.json() == {
            "key_id": key.key_id,
            "name": "ops",
            "scopes": ["admin"],
            "partner": None,
        }


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-Api-Key": "brk_000000000000_" + "A" * 43},
    ],
)
async def test_missing_or_invalid_keys_are_401(client, headers):
    response = await client.get("/v1/api-keys/me", headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert "WWW-Authenticate" in response.headers


async def test_a_right_id_with_a_wrong_secret_is_401(client, api_keys):
    _, plaintext = await api_keys.create("ops", {"admin"})
    tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert (await client.get("/v1/api-keys/me", headers=bearer(tampered))).status == 401


async def test_revoked_keys_stop_working_at_once(client, api_keys):
    key, plaintext = await api_keys.create("ops", {"admin"})
    assert (await client.get("/v1/api-keys/me", headers=bearer(plaintext))).status == 200
    assert await api_keys.revoke(key.key_id)
    assert (await client.get("/v1/api-keys/me", headers=bearer(plaintext))).status == 401


async def test_custom_tokens_route_needs_the_tokens_mint_scope(client, api_keys, keys):
    login = await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="zed", role="r")})
    assert login.status == 200
    _, minting = await api_keys.create("minter", {"tokens:mint"})
    _, other = await api_keys.create("pusher", {"notifications:send"})

    by_uid = await client.post("/v1/custom-tokens", json={"uid": "acme:zed"}, headers=bearer(minting))
    by_external = await client.post(
        "/v1/custom-tokens", json={"partner": "acme", "external_id": "zed"}, headers=bearer(minting)
    )
    forbidden = await client.post("/v1/custom-tokens", json={"uid": "acme:zed"}, headers=bearer(other))
    anonymous = await client.post("/v1/custom-tokens", json={"uid": "acme:zed"})
    unknown = await client.post("/v1/custom-tokens", json={"uid": "acme:nobody"}, headers=bearer(minting))
    ambiguous = await client.post(
        "/v1/custom-tokens", json={"uid": "acme:zed", "partner": "acme"}, headers=bearer(minting)
    )

    assert by_uid.status == 200 and by_external.status == 200
    minted = jwt.decode((await by_uid.json())["custom_token"], options={"verify_signature": False})
    assert minted["uid"] == "acme:zed" and minted["claims"] == {"via": "acme", "role": "r"}
    assert forbidden.status == 403 and anonymous.status == 401
    assert unknown.status == 404 and ambiguous.status == 400


def test_unknown_scopes_are_refused():
    with pytest.raises(ValueError):
        requires_scope("everything")
