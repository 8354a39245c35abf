"""Attacks on the redirect login's allow-list (issue 10 §3): every way a browser could be sent out of
the allowed path, sent over HTTP (and a raw socket) as an attacker would. Each must be refused
before the token is even looked at: the single-use token stays unspent and no user is written."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from test_redirect_login import web_partner
from yarl import URL

from bridge.web.redirect_target import redirect_allowed, remove_dot_segments

APP = "https://app.acme.test/auth/"

# What the server sees after it decodes the query string once. A browser sent to any of these
# would leave /auth/ (or reach a different URL than the one checked).
ESCAPES = [
    "https://app.acme.test/auth/../../evil",
    "https://app.acme.test/auth/../evil",
    "https://app.acme.test/auth/x/../../evil",
    "https://app.acme.test/auth/%2e%2e/evil",
    "https://app.acme.test/auth/%2E%2E/evil",
    "https://app.acme.test/auth/.%2e/evil",
    "https://app.acme.test/auth/%2e./evil",
    "https://app.acme.test/auth/..%2fevil",
    "https://app.acme.test/auth/..%2Fevil",
    "https://app.acme.test/auth/%2e%2e%2fevil",
    "https://app.acme.test/auth/./../evil",
    "https://app.acme.test/auth/%2e/x",
    "https://app.acme.test/auth/.",
    "https://app.acme.test/auth/..",
    "https://app.acme.test/auth/..?next=1",
    "https://app.acme.test/auth/..#frag",
    "https://app.acme.test/auth/..;/evil",
    "https://app.acme.test/auth/%2e%2e;x=1/evil",
    "https://app.acme.test/auth/..\\evil",
    "https://app.acme.test/auth/%5c..%5cevil",
    "https://app.acme.test/auth\\..\\evil",
    "https://app.acme.test/auth/.\t./evil",
    "https://app.acme.test/auth/.\n./evil",
    "https://app.acme.test/auth/x\r\nSet-Cookie: a=b",
    "https://app.acme.test/auth/x\r\n",
    "https://app.acme.test/auth/x\x00",
    "https://app.acme.test/auth/x%00",
    "https://app.acme.test/auth/x%0d%0aSet-Cookie:%20a=b",
    "https://app.acme.test/auth/x\x7f",
    " https://app.acme.test/auth/",
    "https://app.acme.test/auth/ x",
    "https://app.acme.test/auth/\u2025/evil",
    "https://app.acme.test/auth/\uff0e\uff0e/evil",
    "https://user@app.acme.test/auth/",
    "https://user:pass@app.acme.test/auth/",
    "https://app.acme.test@evil.test/auth/",
    "https://evil.test\\@app.acme.test/auth/",
    "https://app.acme.test:99999/auth/",
    "https://app.acme.test:x/auth/",
    "https:/app.acme.test/auth/",
    "https:app.acme.test/auth/",
    "//app.acme.test/auth/",
    "/auth/x",
    "ftp://app.acme.test/auth/",
]


def fragment(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


@pytest.fixture
async def client(start_with_partners) -> Any:
    return await start_with_partners(web=web_partner(), plain=web_partner(error_redirect_url=None))


@pytest.mark.parametrize("target", ESCAPES)
async def test_escapes_are_refused_before_the_token_is_used(client, keys, db, target):
    token = keys.token(sub="victim", jti=secrets.token_hex(6))
    url = URL(
        str(client.make_url("/v1/login/redirect"))
        + "?"
        + (f"partner=web&token={token}&redirect={quote(target, safe='')}"),
        encoded=True,
    )

    response = await client.session.get(url, allow_redirects=False)

    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith("https://app.acme.test/login-failed?")
    assert parse_qs(urlsplit(location).query)["error"] == ["redirect address not allowed"]
    assert "custom_token" not in location and "evil" not in location
    assert await db.used_tokens.count_documents({}) == 0
    assert await db.users.count_documents({}) == 0

    # The token was never spent: the same token still logs in with an allowed redirect.
    good = await client.get(
        "/v1/login/redirect",
        params={"partner": "web", "token": token, "redirect": APP + "done"},
        allow_redirects=False,
    )
    assert good.headers["Location"].startswith(APP + "done#")
    assert fragment(good.headers["Location"])["uid"] == "web:victim"


@pytest.mark.parametrize(
    "target",
    [
        "https://app.acme.test/auth/x\r\nSet-Cookie: a=b",
        "https://app.acme.test/auth/x\x00",
        "https://app.acme.test/auth/../evil",
    ],
)
async def test_without_an_error_url_the_answer_is_the_401_page(client, keys, db, target):
    token = keys.token(jti=secrets.token_hex(6))
    response = await client.get(
        "/v1/login/redirect",
        params={"partner": "plain", "token": token, "redirect": target},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "redirect address not allowed" in await response.text()
    assert "Location" not in response.headers
    assert await db.used_tokens.count_documents({}) == 0


async def test_doubly_encoded_dots_stay_literal_and_inside(client, keys):
    """`%252e%252e` decodes once to `%2e%2e`, which is refused too (a server behind the app might
    decode it again)."""
    token = keys.token(jti=secrets.token_hex(6))
    url = URL(
        str(client.make_url("/v1/login/redirect"))
        + f"?partner=web&token={token}&redirect=https://app.acme.test/auth/%252e%252e/evil",
        encoded=True,
    )
    response = await client.session.get(url, allow_redirects=False)
    assert "redirect+address+not+allowed" in response.headers["Location"]


async def test_raw_request_line_with_dot_segments_and_crlf(client, keys, db):
    """Bytes an HTTP client would clean up, sent on a raw socket: refused, connection answered."""
    token = keys.token(jti=secrets.token_hex(6))
    cases = [
        "https://app.acme.test/auth/../../evil",
        "https://app.acme.test/auth/%2e%2e/evil",
        "https://app.acme.test/auth/..%5Cevil",
        "https://app.acme.test/auth/x%0D%0ALocation:%20https://evil.test/",
    ]
    for target in cases:
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(
            f"GET /v1/login/redirect?partner=web&token={token}&redirect={target} HTTP/1.1\r\n"
            f"Host: bridge\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        answer = (await reader.read()).decode("latin-1")
        writer.close()
        head = answer.split("\r\n\r\n", 1)[0]
        assert head.startswith("HTTP/1.1 302"), head
        assert "Location: https://app.acme.test/login-failed?error=redirect+address+not+allowed" in head
        assert "evil" not in head
    assert await db.used_tokens.count_documents({}) == 0


@pytest.mark.parametrize(
    "target",
    [
        "https://app.acme.test/auth/",
        "https://app.acme.test/auth/callback?x=1&y=../z",
        "https://app.acme.test/auth/a.b/..c/c..",
        "https://app.acme.test/auth/my%20page",
        "https://APP.acme.test/auth/x",
        "https://app.acme.test:443/auth/x",
    ],
)
async def test_legitimate_targets_inside_the_path_still_work(client, keys, target):
    response = await client.get(
        "/v1/login/redirect",
        params={"partner": "web", "token": keys.token(jti=secrets.token_hex(6)), "redirect": target},
        allow_redirects=False,
    )
    assert response.status == 302
    assert "custom_token=" in response.headers["Location"]


def test_remove_dot_segments_follows_rfc_3986():
    # The examples of RFC 3986 §5.2.4 and §5.4.
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("mid/content=5/../6") == "mid/6"
    assert remove_dot_segments("/../../g") == "/g"
    assert remove_dot_segments("/a/b/..") == "/a/"
    assert remove_dot_segments("/a/./b/.") == "/a/b/"


def test_every_escape_is_refused_by_the_matcher():
    assert not any(redirect_allowed(target, [APP]) for target in ESCAPES)
    assert redirect_allowed("https://app.acme.test/auth/x", [APP])
