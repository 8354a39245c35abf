"""The API contract: a valid OpenAPI 3.1 document that matches the routes and the real answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys


async def test_the_document_is_served_and_valid_openapi_3_1(client):
    response = await client.get("/openapi.json")
    document = await response.json()
    assert response.status == 200 and document["openapi"] == "3.1.0"
    validate(document)


async def test_docs_page_works_offline_and_lists_every_route(client):
    page = await (await client.get("/docs")).text()
    assert not re.search(r"(src|href)=['\"]?https?://", page)  # no CDN, no external asset
    document = await (await client.get("/openapi.json")).json()
    assert all(path in page for path in document["paths"])


async def test_real_answers_match_their_schemas(push_client, keys, db):
    """One answer per documented status worth showing; each is held to the served document by the
    test client (tests/contract.py), which fails the call on any mismatch."""
    client = push_client
    assert client.contract is not None  # the app serves /openapi.json: every answer below is checked
    _, key = await ApiKeys(db).create("all", {"accounts:write", "tokens:mint", "notifications:send", "admin"})
    backend = {"Authorization": f"Bearer {key}"}

    async def call(method: str, url: str, expected: int, **kwargs: Any) -> Any:
        response = await client.request(method, url, **kwargs)
        assert response.status == expected, await response.text()
        assert await client.contract.violations_of(response) == []
        return await response.json()

    await call("GET", "/healthz", 200)
    await call("GET", "/readyz", 200)
    login = await call(
        "POST",
        "/v1/login",
        200,
        json={"partner": "acme", "token": keys.token(sub="oa", role="r"), "session": True},
    )
    await call("POST", "/v1/login", 401, json={"partner": "acme", "token": "forged"})
    await call("POST", "/v1/login", 400, json={"partner": 1})
    session = await call("POST", "/v1/sessions", 200, json={"custom_token": login["custom_token"]})
    await call(
        "POST",
        "/v1/sessions/refresh",
        200,
        json={"refresh_token": session["refresh_token"]},
    )
    await call(
        "POST",
        "/v1/sessions/cookie",
        200,
        json={"id_token": session["id_token"], "expires_in": 600},
    )
    user = {"Authorization": f"Bearer {session['id_token']}"}
    await call("GET", "/v1/me", 200, headers=user)
    await call(
        "PUT",
        "/v1/me/devices",
        201,
        headers=user,
        json={"token": "openapi-device-token-0123456789", "platform": "ios"},
    )
    await call("GET", "/v1/me/devices", 200, headers=user)
    account = await call(
        "POST",
        "/v1/accounts",
        201,
        headers=backend,
        json={"partner": "acme", "external_id": "oa-acct", "email": "oa@acme.test"},
    )
    await call(
        "PUT",
        "/v1/users/acme:oa-acct/devices",
        201,
        headers=backend,
        json={"token": "openapi-backend-token-0123456789"},
    )
    await call(
        "POST",
        "/v1/custom-tokens",
        200,
        headers=backend,
        json={"uid": account["user"]["uid"]},
    )
    await call("GET", "/v1/api-keys/me", 200, headers=backend)
    accepted = await call(
        "POST",
        "/v1/notifications",
        202,
        headers=backend,
        json={"recipients": ["acme:oa", "acme:nobody"], "data": {"k": "v"}},
    )
    await call("GET", f"/v1/notifications/{accepted['id']}", 200, headers=backend)
    await call("GET", "/admin/v1/users?verify=true", 200, headers=backend)
    await call("GET", "/admin/v1/users/acme:oa", 200, headers=backend)
    await call("POST", "/admin/v1/users/acme:oa/disable", 200, headers=backend)
    await call(
        "PUT",
        "/admin/v1/users/acme:oa/claims",
        200,
        headers=backend,
        json={"claims": {"x": 1}},
    )
    await call("GET", "/admin/v1/audit", 200, headers=backend)
    await call("GET", "/admin/v1/reconcile", 200, headers=backend)
    await call("DELETE", "/admin/v1/users/acme:oa", 200, headers=backend)
    await call("POST", "/v1/logout", 401, headers=user)  # the user is gone
    await call(
        "DELETE",
        "/v1/users/acme:oa-acct/devices",
        200,
        headers=backend,
        json={"token": "openapi-backend-token-0123456789"},
    )


@pytest.fixture
async def push_client(aiohttp_client, make_settings, fcm):
    return await aiohttp_client(
        create_app(
            make_settings(fcm_url=fcm.base_url, fcm_token_url=f"{fcm.base_url}/token", push_poll_seconds=0.1)
        )
    )
