"""A partner's own route ([partners.X.route]) answering in its platform's contract."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from bridge.app import create_app
from bridge.partners.config import ConfigError

from partner_tokens import acme_like


def password_partner(partner_server: Any, **route: Any) -> dict[str, Any]:
    return {
        "kind": "password",
        "login_url": f"{partner_server.base_url}/api/auth/local",
        "claims": {"role_id": "user.role_id"},
        "route": route,
    }


def token_partner(**route: Any) -> dict[str, Any]:
    return acme_like(claims={"role": "role"}, route=route)


@pytest.fixture
def james(partner_server):
    partner_server.accounts["james@yopmail.com"] = (
        "s3cret-pass",
        {"id": 1, "username": "james", "email": "james@yopmail.com", "role_id": 1},
    )


async def test_flutterflow_contract_answers_the_documented_shape(
    start_with_partners, partner_server, james, db
):
    client = await start_with_partners(
        ff=password_partner(partner_server, path="/login", contract="flutterflow")
    )

    response = await client.post("/login", json={"email": "james@yopmail.com", "password": "s3cret-pass"})

    assert response.status == 200
    answer = await response.json()
    assert list(answer) == ["user", "token_type", "expires_in", "jwt_token", "refresh_token", "token"]
    assert answer["user"] == {"id": 1, "name": "james", "email": "james@yopmail.com", "role_id": 1}
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert answer["jwt_token"] == answer["token"]
    assert jwt.decode(answer["token"], options={"verify_signature": False})["uid"] == "ff:1"
    # the refresh token is a real Firebase one: it refreshes into an ID token for ff:1
    refreshed = await client.post("/v1/sessions/refresh", json={"refresh_token": answer["refresh_token"]})
    assert refreshed.status == 200 and (await refreshed.json())["uid"] == "ff:1"
    assert partner_server.login_requests == [{"identifier": "james@yopmail.com", "password": "s3cret-pass"}]
    assert await db.users.count_documents({"uid": "ff:1"}) == 1


async def test_a_string_partner_id_stays_a_string(start_with_partners, keys):
    client = await start_with_partners(ff=token_partner(path="/login", contract="flutterflow"))
    response = await client.post("/login", json={"token": keys.token(sub="0042", name="Ann", role="x")})
    assert (await response.json())["user"] == {"id": "0042", "name": "Ann", "email": None, "role": "x"}


async def test_token_routes_take_a_bearer_token_with_an_empty_body(start_with_partners, keys):
    client = await start_with_partners(web=token_partner(path="/auth/token", contract="bridge"))

    response = await client.post("/auth/token", headers={"Authorization": f"Bearer {keys.token(sub='bea')}"})

    assert response.status == 200
    answer = await response.json()
    assert answer["user"]["uid"] == "web:bea" and answer["custom_token"] == answer["jwt_token"]
    assert "session" not in answer


async def test_renamed_token_field(start_with_partners, keys):
    client = await start_with_partners(web=token_partner(path="/jwt-login", fields={"token": "jwt"}))
    assert (await client.post("/jwt-login", json={"jwt": keys.token(sub="j")})).status == 200
    wrong = await client.post("/jwt-login", json={"token": keys.token(sub="j")})
    assert wrong.status == 400
    assert [e["field"] for e in (await wrong.json())["errors"]] == ["token"]


async def test_strapi_contract_jwt_is_an_id_token_that_v1_me_accepts(
    start_with_partners, partner_server, james
):
    client = await start_with_partners(
        shop=password_partner(partner_server, path="/api/auth/local", contract="strapi")
    )

    response = await client.post(
        "/api/auth/local", json={"identifier": "james@yopmail.com", "password": "s3cret-pass"}
    )

    assert response.status == 200
    answer = await response.json()
    assert set(answer) == {"jwt", "user", "custom_token", "refresh_token", "expires_in"}
    assert answer["user"]["id"] == 1 and answer["user"]["email"] == "james@yopmail.com"
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['jwt']}"})
    assert me.status == 200 and (await me.json())["user"]["uid"] == "shop:1"
    assert (await client.get("/v1/me")).status == 401
    refused = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['custom_token']}"})
    assert refused.status == 401


async def test_bad_requests_on_a_partner_route(start_with_partners, partner_server, james, db):
    client = await start_with_partners(
        ff=password_partner(partner_server, path="/login", contract="flutterflow")
    )
    cases = [
        {"email": "james@yopmail.com"},
        {"email": "james@yopmail.com", "password": "s3cret-pass", "partner": "ff"},
        {"email": 5, "password": "s3cret-pass"},
    ]
    for body in cases:
        response = await client.post("/login", json=body)
        assert response.status == 400
        assert response.content_type == "application/problem+json"
    wrong = await client.post("/login", json={"email": "james@yopmail.com", "password": "nope-nope"})
    assert wrong.status == 401
    assert await db.users.count_documents({}) == 0


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"path": "/v1/login"}, "a path bridge itself uses"),
        ({"path": "/admin"}, "a path bridge itself uses"),
        ({"path": "/a/../v1/me"}, "segments"),
        ({"path": "login"}, "absolute path"),
        ({"path": "/x", "contract": "soap"}, "contract"),
        ({"path": "/x", "fields": {"username": "email"}}, "cannot be used by a token partner"),
        ({"path": "/x", "fields": {"secret": "s"}}, "unknown field names"),
        ({"path": "/x", "fields": {"token": "session"}}, "own field"),
    ],
)
async def test_route_mistakes_stop_start_up(make_settings, route, message):
    with pytest.raises(ConfigError) as error:
        make_settings(extra_partners={"p": token_partner(**route)})
    assert message in str(error.value)


async def test_two_partners_cannot_share_a_route(make_settings):
    with pytest.raises(ConfigError, match="already partner 'p1'"):
        make_settings(extra_partners={"p1": token_partner(path="/login"), "p2": token_partner(path="/login")})


async def test_session_contracts_need_the_web_api_key(make_settings):
    settings = make_settings(
        extra_partners={"p": token_partner(path="/login", contract="flutterflow")}, firebase_web_api_key=None
    )
    with pytest.raises(ConfigError, match="BRIDGE_FIREBASE_WEB_API_KEY"):
        create_app(settings)


async def test_accounts_answer_the_same_token_fields_as_login(client, db):
    from bridge.store.api_keys import ApiKeys

    _, writer = await ApiKeys(db).create("backend", {"accounts:write"})
    response = await client.post(
        "/v1/accounts",
        headers={"Authorization": f"Bearer {writer}"},
        json={"partner": "acme", "external_id": "signup-1", "email": "s1@acme.test", "session": True},
    )

    assert response.status == 201
    answer = await response.json()
    assert answer["jwt_token"] == answer["custom_token"]
    assert answer["id_token"] == answer["session"]["id_token"]
    assert answer["refresh_token"] == answer["session"]["refresh_token"]
    plain = await client.post(
        "/v1/accounts",
        headers={"Authorization": f"Bearer {writer}"},
        json={"partner": "acme", "external_id": "s2"},
    )
    assert set(await plain.json()) == {
        "user",
        "created",
        "token_type",
        "custom_token",
        "jwt_token",
        "expires_in",
    }


async def test_partner_routes_are_in_the_api_document_and_answers_match_it(
    start_with_partners, partner_server, james, keys
):
    from openapi_spec_validator import validate

    client = await start_with_partners(
        ff=password_partner(partner_server, path="/login", contract="flutterflow"),
        shop=password_partner(partner_server, path="/api/auth/local", contract="strapi"),
        web=token_partner(path="/docs-login", contract="redirect"),
    )
    document = await (await client.get("/openapi.json")).json()
    validate(document)
    body = document["paths"]["/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"email", "password"}
    assert "get" in document["paths"]["/docs-login"]
    credentials = {"email": "james@yopmail.com", "password": "s3cret-pass"}
    # The contract client (tests/contract.py) holds both answers to the document just read.
    assert (await client.post("/login", json=credentials)).status == 200
    strapi = {"identifier": "james@yopmail.com", "password": "s3cret-pass"}
    assert (await client.post("/api/auth/local", json=strapi)).status == 200
    assert "/api/auth/local" in await (await client.get("/docs")).text()
