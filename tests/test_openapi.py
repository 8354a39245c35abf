"""The API contract: a valid OpenAPI 3.1 document that matches the routes and the real answers."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys
from bridge.web.routes import openapi_document


async def test_the_document_is_served_and_valid_openapi_3_1(client):
    response = await client.get("/openapi.json")
    document = await response.json()
    assert response.status == 200 and document["openapi"] == "3.1.0"
    validate(document)


async def test_docs_page_works_offline_and_lists_every_route(client):
    page = await (await client.get("/docs")).text()
    assert not re.search(r"(src|href)=['\"]?https?://", page)  # no CDN, no external asset
    for path in openapi_document()["paths"]:
        assert path in page


def check(document: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Validate a real answer against the documented schema for that route and status."""
    response = document["paths"][path][method.lower()]["responses"][str(status)]
    media = response["content"]
    schema = (media.get("application/json") or media["application/problem+json"])["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(body)


async def test_real_answers_match_their_schemas(push_client, keys, db):
    document = openapi_document()
    client = push_client
    _, key = await ApiKeys(db).create("all", {"accounts:write", "tokens:mint", "notifications:send", "admin"})
    backend = {"Authorization": f"Bearer {key}"}

    async def call(method: str, url: str, path: str, expected: int, **kwargs: Any) -> Any:
        response = await client.request(method, url, **kwargs)
        assert response.status == expected, await response.text()
        body = await response.json()
        check(document, method, path, expected, body)
        return body

    await call("GET", "/healthz", "/healthz", 200)
    await call("GET", "/readyz", "/readyz", 200)
    login = await call(
        "POST",
        "/v1/login",
        "/v1/login",
        200,
        json={"partner": "acme", "token": keys.token(sub="oa", role="r"), "session": True},
    )
    await call("POST", "/v1/login", "/v1/login", 401, json={"partner": "acme", "token": "forged"})
    await call("POST", "/v1/login", "/v1/login", 400, json={"partner": 1})
    session = await call(
        "POST", "/v1/sessions", "/v1/sessions", 200, json={"custom_token": login["custom_token"]}
    )
    await call(
        "POST",
        "/v1/sessions/refresh",
        "/v1/sessions/refresh",
        200,
        json={"refresh_token": session["refresh_token"]},
    )
    await call(
        "POST",
        "/v1/sessions/cookie",
        "/v1/sessions/cookie",
        200,
        json={"id_token": session["id_token"], "expires_in": 600},
    )
    user = {"Authorization": f"Bearer {session['id_token']}"}
    await call("GET", "/v1/me", "/v1/me", 200, headers=user)
    await call(
        "PUT",
        "/v1/me/devices",
        "/v1/me/devices",
        201,
        headers=user,
        json={"token": "openapi-device-token-0123456789", "platform": "ios"},
    )
    await call("GET", "/v1/me/devices", "/v1/me/devices", 200, headers=user)
    account = await call(
        "POST",
        "/v1/accounts",
        "/v1/accounts",
        201,
        headers=backend,
        json={"partner": "acme", "external_id": "oa-acct", "email": "oa@acme.test"},
    )
    await call(
        "PUT",
        "/v1/users/acme:oa-acct/devices",
        "/v1/users/{ref}/devices",
        201,
        headers=backend,
        json={"token": "openapi-backend-token-0123456789"},
    )
    await call(
        "POST",
        "/v1/custom-tokens",
        "/v1/custom-tokens",
        200,
        headers=backend,
        json={"uid": account["user"]["uid"]},
    )
    await call("GET", "/v1/api-keys/me", "/v1/api-keys/me", 200, headers=backend)
    accepted = await call(
        "POST",
        "/v1/notifications",
        "/v1/notifications",
        202,
        headers=backend,
        json={"recipients": ["acme:oa", "acme:nobody"], "data": {"k": "v"}},
    )
    await call("GET", f"/v1/notifications/{accepted['id']}", "/v1/notifications/{id}", 200, headers=backend)
    await call("GET", "/admin/v1/users?verify=true", "/admin/v1/users", 200, headers=backend)
    await call("GET", "/admin/v1/users/acme:oa", "/admin/v1/users/{ref}", 200, headers=backend)
    await call(
        "POST", "/admin/v1/users/acme:oa/disable", "/admin/v1/users/{ref}/disable", 200, headers=backend
    )
    await call(
        "PUT",
        "/admin/v1/users/acme:oa/claims",
        "/admin/v1/users/{ref}/claims",
        200,
        headers=backend,
        json={"claims": {"x": 1}},
    )
    await call("GET", "/admin/v1/audit", "/admin/v1/audit", 200, headers=backend)
    await call("GET", "/admin/v1/reconcile", "/admin/v1/reconcile", 200, headers=backend)
    await call("DELETE", "/admin/v1/users/acme:oa", "/admin/v1/users/{ref}", 200, headers=backend)
    await call("POST", "/v1/logout", "/v1/logout", 401, headers=user)  # the user is gone
    await call(
        "DELETE",
        "/v1/users/acme:oa-acct/devices",
        "/v1/users/{ref}/devices",
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
