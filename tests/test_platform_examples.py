"""examples/platforms/*: each ready-made configuration starts bridge, and the platform's literal
request works unchanged against it, answering the literal fields the platform reads."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from firebase_admin import auth

from bridge.app import create_app
from bridge.partners.config import load_partners_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "platforms"


@pytest.fixture
def start_example(aiohttp_client, make_settings, monkeypatch):
    async def start(name: str, **env: str) -> Any:
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        partners = load_partners_file(EXAMPLES / name / "partners.toml")
        return await aiohttp_client(create_app(make_settings(partners=partners)))

    return start


def test_every_example_has_a_readme_and_a_test():
    names = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert names == ["appsmith-strapi", "developerhub", "flutterflow", "jwks-custom-auth", "oidc-sso"]
    tested = Path(__file__).read_text()
    for name in names:
        assert (EXAMPLES / name / "README.md").read_text().strip()
        assert re.search(rf'start_example\(\s*"{name}"', tested), name


async def test_flutterflow(start_example, partner_server, db, firebase_admin_app):
    partner_server.accounts["james@yopmail.com"] = (
        "pass-word-1",
        {"id": 1, "role_id": 1, "name": "james", "email": "james@yopmail.com"},
    )
    client = await start_example(
        "flutterflow", FLUTTERFLOW_USER_API_URL=f"{partner_server.base_url}/api/auth/local"
    )

    # FlutterFlow's API call, as the app sends it
    response = await client.post(
        "/login",
        data=json.dumps({"email": "james@yopmail.com", "password": "pass-word-1"}),
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 200
    answer = await response.json()
    assert list(answer) == ["user", "token_type", "expires_in", "jwt_token", "refresh_token", "token"]
    assert answer["user"] == {"id": 1, "name": "james", "email": "james@yopmail.com", "role_id": 1}
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert answer["token"] == answer["jwt_token"] and answer["refresh_token"]
    assert response.content_type == "application/json" and response.headers["Cache-Control"] == "no-store"
    # FlutterFlow's "verify user creation": the uid is in Firebase Auth at once
    record = await asyncio.to_thread(auth.get_user, "flutterflow:1", app=firebase_admin_app)
    assert record.email == "james@yopmail.com"


async def test_flutterflow_web_build_preflight(start_example, partner_server):
    """A FlutterFlow web build calls POST /login from its origin: the preflight passes from that
    origin and fails from another."""
    client = await start_example(
        "flutterflow",
        FLUTTERFLOW_USER_API_URL=f"{partner_server.base_url}/api/auth/local",
        FLUTTERFLOW_APP_ORIGIN="https://ff-app.acme.test",
    )

    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }

    allowed = await client.options(
        "/login",
        headers=preflight("https://ff-app.acme.test"),
        undocumented=True,  # a CORS preflight
    )
    foreign = await client.options("/login", headers=preflight("https://evil.example"), undocumented=True)

    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ff-app.acme.test"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert foreign.status == 403 and "Access-Control-Allow-Origin" not in foreign.headers


async def test_appsmith_strapi(start_example, partner_server):
    partner_server.accounts["reader@acme.test"] = (
        "pass-word-2",
        {"id": 7, "username": "reader", "email": "reader@acme.test"},
    )
    client = await start_example("appsmith-strapi", STRAPI_URL=partner_server.base_url)

    # Appsmith's login query
    login = await client.post(
        "/api/auth/local",
        data=json.dumps({"identifier": "reader@acme.test", "password": "pass-word-2"}),
        headers={"Content-Type": "application/json"},
    )
    answer = await login.json()
    # Appsmith's "is signed in" query with the stored jwt
    signed_in = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['jwt']}"})
    signed_out = await client.get("/v1/me")

    assert login.status == 200
    assert set(answer) == {"jwt", "user", "custom_token", "refresh_token", "expires_in"}
    assert answer["user"]["id"] == 7 and answer["user"]["username"] == "reader"
    assert signed_in.status == 200 and (await signed_in.json())["user"]["uid"] == "strapi:7"
    assert signed_out.status == 401


async def test_developerhub(start_example, keys):
    secret = secrets.token_hex(32)
    client = await start_example(
        "developerhub", DEVELOPERHUB_JWT_SECRET=secret, DEVELOPERHUB_DOCS_URL="https://docs.acme.test"
    )

    def signed(**claims: Any) -> str:
        payload = {
            "version": 1,
            "vars": {"user_id": "42", "email": "dev@acme.test", "name": "Dev"},
            "jti": secrets.token_hex(8),
            "error_redirect_url": "https://docs.acme.test/oops",
            "exp": int(time.time()) + 300,
            **claims,
        }
        return jwt.encode(payload, secret, algorithm="HS512")

    token = signed()
    # the browser arrives at LOGIN_URL?jwt=<token>&redirect=<page>
    ok = await client.get(
        f"/developerhub/login?jwt={token}&redirect=https://docs.acme.test/api", allow_redirects=False
    )
    reused = await client.get(f"/developerhub/login?jwt={token}", allow_redirects=False)

    assert ok.status == 302
    location = urlsplit(ok.headers["Location"])
    assert (location.netloc, location.path) == ("docs.acme.test", "/api")
    assert parse_qs(location.fragment)["uid"] == ["developerhub:42"]
    assert reused.status == 302
    failed = urlsplit(reused.headers["Location"])
    assert failed.path == "/oops" and parse_qs(failed.query) == {
        "dh_jwt_error": ["Token has already been used"]
    }


async def test_developerhub_hs256_expired_and_invalid_tokens(start_example):
    """DeveloperHub signs with HS256 or HS512; an expired token and a forged one land on the error
    page with DeveloperHub's own messages (a forged token's error_redirect_url is never followed)."""
    secret = secrets.token_hex(32)
    client = await start_example(
        "developerhub", DEVELOPERHUB_JWT_SECRET=secret, DEVELOPERHUB_DOCS_URL="https://docs.acme.test"
    )

    def signed(key: str = secret, **claims: Any) -> str:
        payload = {
            "version": 1,
            "vars": {"user_id": 43, "email": "dev43@acme.test", "name": "Dev"},
            "jti": secrets.token_hex(8),
            "error_redirect_url": "https://docs.acme.test/oops",
            "exp": int(time.time()) + 300,
            **claims,
        }
        return jwt.encode(payload, key, algorithm="HS256")

    async def visit(token: str) -> tuple[str, str, dict[str, list[str]], str]:
        answer = await client.get(f"/developerhub/login?jwt={token}", allow_redirects=False)
        assert answer.status == 302
        location = urlsplit(answer.headers["Location"])
        return location.path, location.fragment, parse_qs(location.query), answer.headers["Cache-Control"]

    ok_path, ok_fragment, _, ok_cache = await visit(signed())
    expired = await visit(signed(exp=int(time.time()) - 120))
    forged = await visit(signed(key=secrets.token_hex(32)))
    # the example configures no issuer or audience: a token made for someone is not a login here
    for_someone = [await visit(signed(iss="https://other.test")), await visit(signed(aud="other"))]

    assert ok_path == "/" and parse_qs(ok_fragment)["uid"] == ["developerhub:43"] and ok_cache == "no-store"
    assert expired[0] == "/oops" and expired[2] == {"dh_jwt_error": ["Token expired"]}
    assert forged[0] == "/login-error" and forged[2] == {"dh_jwt_error": ["Invalid token"]}
    assert [v[2] for v in for_someone] == [{"dh_jwt_error": ["Invalid token"]}] * 2


async def test_jwks_custom_auth(start_example, partner_server):
    partner_server.add_rsa_key("k1")
    issuer = "https://auth.acme.test"
    client = await start_example(
        "jwks-custom-auth",
        CUSTOM_AUTH_JWKS_URL=f"{partner_server.base_url}/jwks.json",
        CUSTOM_AUTH_ISSUER=issuer,
    )
    token = partner_server.token(
        "k1", issuer, email="ann@acme.test", email_verified=True, tenant="acme", role="editor"
    )
    wrong_tenant = partner_server.token("k1", issuer, email="bob@acme.test", email_verified=True, tenant="x")

    response = await client.post("/v1/login", json={"partner": "custom", "token": token})
    refused = await client.post("/v1/login", json={"partner": "custom", "token": wrong_tenant})

    assert response.status == 200
    answer = await response.json()
    assert answer["user"]["uid"] == "custom:ann@acme.test" and answer["user"]["claims"] == {"role": "editor"}
    assert answer["custom_token"] == answer["jwt_token"]
    assert refused.status == 401


async def test_oidc_sso(start_example, partner_server):
    partner_server.add_rsa_key("sso-key")
    client = await start_example("oidc-sso", OIDC_ISSUER=partner_server.base_url, OIDC_CLIENT_ID="appsmith")
    id_token = partner_server.token("sso-key", aud="appsmith", sub="emp-9", email="emp9@corp.test")

    # the provider's ID token as Authorization: Bearer, no body
    response = await client.post("/sso/login", headers={"Authorization": f"Bearer {id_token}"})

    assert response.status == 200
    answer = await response.json()
    assert answer["user"]["uid"] == "sso:emp-9" and answer["user"]["email"] == "emp9@corp.test"
    assert set(answer) >= {"user", "token_type", "custom_token", "jwt_token", "expires_in"}
