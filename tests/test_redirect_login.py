"""GET /v1/login/redirect: the browser flow, its allow-list, and failures shown to people."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.web.redirect_login import redirect_allowed

from partner_tokens import acme_like

APP = "https://app.acme.test/auth/"


def web_partner(**options: Any) -> dict[str, Any]:
    redirects = {
        "single_use": True,
        "redirect_urls": [APP],
        "default_redirect_url": "https://app.acme.test/auth/done",
        "error_redirect_url": "https://app.acme.test/login-failed",
    }
    return acme_like(**{**redirects, **options})


@pytest.fixture
def start(start_with_partners):
    async def start(**options: Any) -> Any:
        return await start_with_partners(web=web_partner(**options))

    return start


async def redirect(client: Any, **query: str) -> Any:
    return await client.get("/v1/login/redirect", params=query, allow_redirects=False)


def fragment(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def error_of(location: str) -> str:
    assert location.startswith("https://app.acme.test/login-failed?")
    return parse_qs(urlsplit(location).query)["error"][0]


async def test_success_redirects_with_the_custom_token_in_the_fragment(start, keys, db):
    client = await start()
    response = await redirect(
        client,
        partner="web",
        token=keys.token(sub="wu", jti=secrets.token_hex(6)),
        redirect="https://app.acme.test/auth/callback?x=1",
    )

    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith("https://app.acme.test/auth/callback?x=1#")
    values = fragment(location)
    assert values["uid"] == "web:wu" and values["custom_token"] and values["expires_in"] == "3600"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert await db.users.count_documents({"uid": "web:wu"}) == 1


async def test_the_default_landing_url_is_used_without_a_redirect(start, keys):
    client = await start()
    response = await redirect(client, partner="web", token=keys.token(jti=secrets.token_hex(6)))
    assert response.headers["Location"].startswith("https://app.acme.test/auth/done#custom_token=")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/auth/",
        "https://app.acme.test.evil.test/auth/",
        "https://app.acme.test/admin/",
        "https://app.acme.test/authority",
        "http://app.acme.test/auth/",
        "https://app.acme.test:8443/auth/",
        "https://app.acme.test@evil.test/auth/",
        "//evil.test/auth/",
        "https:\\\\evil.test/auth/",
        "javascript:alert(1)",
    ],
)
async def test_redirects_outside_the_allow_list_are_refused(start, keys, db, target):
    client = await start()
    response = await redirect(
        client, partner="web", token=keys.token(jti=secrets.token_hex(6)), redirect=target
    )
    assert response.status == 302
    assert error_of(response.headers["Location"]) == "redirect address not allowed"
    assert await db.users.count_documents({}) == 0
    assert await db.used_tokens.count_documents({}) == 0


async def test_failures_go_to_the_error_url_with_a_short_message(start, keys):
    client = await start()
    expired = keys.token(jti=secrets.token_hex(6), exp=int(time.time()) - 600)
    used = keys.token(jti=secrets.token_hex(6))
    assert (await redirect(client, partner="web", token=used)).status == 302

    cases = {
        "Token expired": await redirect(client, partner="web", token=expired),
        "Token has already been used": await redirect(client, partner="web", token=used),
        "Invalid token": await redirect(client, partner="web", token="garbage"),
        "missing token": await redirect(client, partner="web"),
    }
    for message, response in cases.items():
        assert response.status == 302
        assert error_of(response.headers["Location"]) == message


async def test_without_an_error_url_failures_are_a_plain_401_page(start, keys):
    client = await start(error_redirect_url=None)
    response = await redirect(client, partner="web", token="garbage")
    assert response.status == 401
    assert response.content_type == "text/html"
    assert "Invalid token" in await response.text()
    unknown = await redirect(client, partner="nobody", token="garbage")
    assert unknown.status == 401 and "unknown partner" in await unknown.text()


async def test_redirect_with_session(start, keys):
    client = await start(redirect_with_session=True)
    response = await redirect(client, partner="web", token=keys.token(jti=secrets.token_hex(6)))
    values = fragment(response.headers["Location"])
    assert values["id_token"] and values["refresh_token"]


async def test_the_token_in_the_query_string_is_never_logged(start, keys, caplog):
    caplog.set_level(logging.DEBUG)
    client = await start()
    token = keys.token(jti=secrets.token_hex(6))
    await redirect(client, partner="web", token=token)
    assert all(token not in r.getMessage() and token not in str(vars(r)) for r in caplog.records)


def test_allow_list_matching_rules():
    allowed = ["https://app.test/auth/", "https://other.test"]
    assert redirect_allowed("https://app.test/auth/", allowed)
    assert redirect_allowed("https://app.test/auth/deep/path?q=1", allowed)
    assert redirect_allowed("https://other.test/anything", allowed)
    assert not redirect_allowed("https://app.test/auth", ["https://app.test/auth/x"])
    assert not redirect_allowed("https://APP.test.evil/auth/", allowed)


async def test_a_head_request_on_the_shared_route_never_spends_the_token(start, keys, db):
    """Found from outside: HEAD /v1/login/redirect ran the whole login (a link scanner's HEAD spent
    the single-use token and got the custom token in its Location); the user's GET then failed
    with "already used". The partner routes already refused HEAD."""
    client = await start()
    token = keys.token(sub="hu", jti=secrets.token_hex(6))

    head = await client.head(
        "/v1/login/redirect", params={"partner": "web", "token": token}, allow_redirects=False
    )

    assert head.status == 405 and "Location" not in head.headers
    assert await db.used_tokens.count_documents({}) == 0
    assert await db.users.count_documents({"uid": "web:hu"}) == 0
    answer = await redirect(client, partner="web", token=token)
    assert fragment(answer.headers["Location"])["uid"] == "web:hu"
