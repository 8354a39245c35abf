"""Identity Platform tenants: a partner's custom tokens, sessions and accounts live in its tenant.
The Auth emulator supports tenants; it creates them through its REST API (as Google's does)."""

from __future__ import annotations

import asyncio

import aiohttp
import firebase_admin
import jwt
import pytest
from firebase_admin import auth, credentials, tenant_mgt

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys

from conftest import PROJECT_ID
from partner_tokens import ISSUER


@pytest.fixture
async def tenant_id(auth_emulator_host: str) -> str:
    url = f"http://{auth_emulator_host}/identitytoolkit.googleapis.com/v2/projects/{PROJECT_ID}/tenants"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url, json={"displayName": "tenant-a"}, headers={"Authorization": "Bearer owner"}
        ) as response,
    ):
        assert response.status == 200
        created: str = (await response.json())["tenantId"]
        return created


@pytest.fixture
async def client(aiohttp_client, make_settings, tenant_id):
    partner = {
        "kind": "jwt",
        "issuer": ISSUER,
        "audience": "bridge",
        "algorithms": ["HS256"],
        "secret_file": "acme.secret",
        "tenant_id": tenant_id,
    }
    return await aiohttp_client(create_app(make_settings(extra_partners={"tenanted": partner})))


@pytest.fixture
def tenant_app(auth_emulator_host, service_account_file):
    # tenant clients need a credential object even against the emulator
    app = firebase_admin.initialize_app(
        credentials.Certificate(str(service_account_file)), {"projectId": PROJECT_ID}, name="tenant-tests"
    )
    yield app
    firebase_admin.delete_app(app)


async def test_login_session_and_me_in_a_tenant(client, keys, tenant_id, tenant_app):
    response = await client.post(
        "/v1/login", json={"partner": "tenanted", "token": keys.token(sub="t1"), "session": True}
    )
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert jwt.decode(answer["custom_token"], options={"verify_signature": False})["tenant_id"] == tenant_id

    tenant_client = tenant_mgt.auth_for_tenant(tenant_id, app=tenant_app)
    claims = await asyncio.to_thread(tenant_client.verify_id_token, answer["id_token"])
    assert claims["firebase"]["tenant"] == tenant_id and claims["uid"] == "tenanted:t1"
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['id_token']}"})
    assert me.status == 200
    logout = await client.post("/v1/logout", headers={"Authorization": f"Bearer {answer['id_token']}"})
    assert logout.status == 200
    user = await asyncio.to_thread(tenant_client.get_user, "tenanted:t1")
    assert user.tokens_valid_after_timestamp > 0


async def test_accounts_are_created_in_the_tenant(client, db, tenant_id, tenant_app):
    _, key = await ApiKeys(db).create("backend", {"accounts:write"})
    response = await client.post(
        "/v1/accounts",
        headers={"Authorization": f"Bearer {key}"},
        json={"partner": "tenanted", "external_id": "t2", "email": "t2@tenant.test"},
    )
    assert response.status == 201, await response.text()

    tenant_client = tenant_mgt.auth_for_tenant(tenant_id, app=tenant_app)
    user = await asyncio.to_thread(tenant_client.get_user, "tenanted:t2")
    assert user.tenant_id == tenant_id and user.email == "t2@tenant.test"
    with pytest.raises(auth.UserNotFoundError):
        await asyncio.to_thread(auth.get_user, "tenanted:t2", app=tenant_app)  # not in the project itself


async def test_custom_tokens_carry_the_partners_tenant(client, keys, db, tenant_id, tenant_app):
    """POST /v1/custom-tokens mints in the user's partner's tenant (issue 10 §6)."""
    assert (
        await client.post("/v1/login", json={"partner": "tenanted", "token": keys.token(sub="t3")})
    ).status == 200
    _, key = await ApiKeys(db).create("minter", {"tokens:mint"})

    response = await client.post(
        "/v1/custom-tokens", headers={"Authorization": f"Bearer {key}"}, json={"uid": "tenanted:t3"}
    )

    assert response.status == 200
    custom_token = (await response.json())["custom_token"]
    assert jwt.decode(custom_token, options={"verify_signature": False})["tenant_id"] == tenant_id
    exchanged = await client.post("/v1/sessions", json={"custom_token": custom_token})
    assert exchanged.status == 200, await exchanged.text()
    tenant_client = tenant_mgt.auth_for_tenant(tenant_id, app=tenant_app)
    claims = await asyncio.to_thread(tenant_client.verify_id_token, (await exchanged.json())["id_token"])
    assert claims["firebase"]["tenant"] == tenant_id and claims["uid"] == "tenanted:t3"
