"""The admin page's forms refuse cross-site posts by Origin, and still work behind the TLS proxy
bridge is meant to run behind. Found from outside: bridge serves plain HTTP (cookies are Secure by
default, so production is HTTPS at a proxy), and the check compared the browser's
`Origin: https://host` with `http://host` (the scheme bridge itself sees): every sign-in was
refused with "Cross-site form refused"."""

from __future__ import annotations

import pytest

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys


@pytest.fixture
async def client(aiohttp_client, make_settings):
    return await aiohttp_client(create_app(make_settings()))


@pytest.fixture
async def admin_key(db) -> str:
    _, key = await ApiKeys(db).create("ops", {"admin"})
    return key


async def sign_in(client, key: str, origin: str | None) -> int:
    headers = {"Origin": origin} if origin is not None else {}
    answer = await client.post(
        "/admin/login", data={"credential": key}, headers=headers, allow_redirects=False
    )
    return answer.status


async def test_the_sites_own_origin_signs_in_over_http_and_behind_a_tls_proxy(client, admin_key):
    host = client.server.host + ":" + str(client.server.port)
    assert await sign_in(client, admin_key, f"http://{host}") == 303
    assert await sign_in(client, admin_key, f"https://{host}") == 303
    assert await sign_in(client, admin_key, None) == 303  # a browser that sends no Origin


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://evil.example", "null", "https://{host}.evil.example", "https://x{host}"],
)
async def test_other_origins_are_refused(client, admin_key, origin):
    host = client.server.host + ":" + str(client.server.port)
    assert await sign_in(client, admin_key, origin.format(host=host)) == 403
