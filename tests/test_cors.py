"""CORS: real preflights from an allowed and a foreign origin, credentials only where the cookie is
used, never a wildcard; and in headless Chromium a page from another origin logs in with fetch."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from bridge.app import create_app

from browser import CHROMIUM, Browser
from partner_tokens import acme_like

APP_ORIGIN = "https://app.acme.test"
OTHER_ORIGIN = "https://evil.test"


def partner(origins: list[str], **extra: Any) -> dict[str, Any]:
    return acme_like(allowed_origins=origins, **extra)


@pytest.fixture
async def client(aiohttp_client, make_settings):
    settings = make_settings(
        extra_partners={"web": partner([APP_ORIGIN], route={"path": "/login"})},
        cors_allowed_origins=[APP_ORIGIN],
    )
    return await aiohttp_client(create_app(settings))


async def preflight(client: Any, path: str, origin: str, method: str = "POST") -> Any:
    return await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,authorization",
        },
        undocumented=True,  # CORS preflights (aiohttp-cors) are not operations of the API
    )


@pytest.mark.parametrize(
    ("path", "method", "credentials"),
    [
        ("/v1/login", "POST", False),
        ("/login", "POST", False),
        ("/v1/sessions", "POST", False),
        ("/v1/sessions/refresh", "POST", False),
        ("/v1/sessions/cookie", "POST", True),
        ("/v1/me", "GET", True),
        ("/v1/me/devices", "PUT", True),
        ("/v1/logout", "POST", True),
    ],
)
async def test_preflight_from_an_allowed_origin_passes(client, path, method, credentials):
    response = await preflight(client, path, APP_ORIGIN, method)

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "AUTHORIZATION" in response.headers["Access-Control-Allow-Headers"].upper()
    assert ("Access-Control-Allow-Credentials" in response.headers) is credentials


@pytest.mark.parametrize("path", ["/v1/login", "/login", "/v1/sessions/cookie", "/v1/me"])
async def test_preflight_from_a_foreign_origin_fails(client, path):
    response = await preflight(client, path, OTHER_ORIGIN)
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_actual_answers_carry_cors_headers_only_for_allowed_origins(client, keys):
    token = keys.token(sub="corsy")
    allowed = await client.post("/login", json={"token": token}, headers={"Origin": APP_ORIGIN})
    foreign = await client.post(
        "/login", json={"token": keys.token(sub="x")}, headers={"Origin": OTHER_ORIGIN}
    )
    assert allowed.status == 200 and allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "X-REQUEST-ID" in allowed.headers["Access-Control-Expose-Headers"].upper()
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert allowed.headers["Vary"] == "Origin" and foreign.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in foreign.headers
    refused = await client.post("/login", json={"token": "garbage"}, headers={"Origin": APP_ORIGIN})
    assert refused.status == 401  # the page can read the problem: the error carries CORS headers too
    assert refused.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


async def test_routes_without_configured_origins_have_no_cors(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings()))
    response = await preflight(client, "/v1/login", APP_ORIGIN)
    assert response.status == 405  # no OPTIONS route: the router's answer
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origins", [["*"], ["https://app.test/path"], ["http://app.example"]])
def test_wildcards_paths_and_plain_http_origins_are_refused(make_settings, origins):
    with pytest.raises(Exception, match="origin"):
        make_settings(extra_partners={"p": partner(origins)})
    with pytest.raises(Exception, match="origin"):
        make_settings(cors_allowed_origins=origins)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
async def test_a_page_from_another_origin_logs_in_with_fetch(
    aiohttp_server, aiohttp_client, make_settings, keys, db
):
    async def app_page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>app</title>", content_type="text/html")

    page = web.Application()
    page.router.add_get("/", app_page)
    page_server = await aiohttp_server(page)
    page_origin = f"http://127.0.0.1:{page_server.port}"
    foreign_page = f"http://localhost:{page_server.port}/"  # another origin: host differs
    settings = make_settings(
        extra_partners={"web": partner([page_origin], route={"path": "/login"})},
        cors_allowed_origins=[page_origin],
        session_cookie_secure=False,
    )
    bridge = await aiohttp_client(create_app(settings))
    bridge_url = str(bridge.make_url("")).rstrip("/")
    script = """
        (async () => {
          try {
            const login = await fetch("%s/login", {
              method: "POST", headers: {"Content-Type": "application/json"},
              body: JSON.stringify({token: "%s"}),
            });
            const answer = await login.json();
            return {status: login.status, uid: answer.user && answer.user.uid,
                    requestId: login.headers.get("X-Request-Id") !== null, origin: location.origin};
          } catch (error) {
            return {error: String(error), origin: location.origin};
          }
        })()
    """
    # the cookie flow: credentials are sent (and the cookie stored) only where the route allows it
    cookie_script = """
        (async () => {
          const login = await (await fetch("%s/login", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({token: "%s"}),
          })).json();
          const session = await (await fetch("%s/v1/sessions", {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({custom_token: login.custom_token}),
          })).json();
          const cookie = await fetch("%s/v1/sessions/cookie", {
            method: "POST", credentials: "include", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({id_token: session.id_token, expires_in: 3600}),
          });
          const me = await fetch("%s/v1/me", {credentials: "include"});
          return {cookie: cookie.status, me: me.status, uid: (await me.json()).user.uid};
        })()
    """
    browser = await Browser().start()
    try:
        await browser.open(f"{page_origin}/")
        allowed = await browser.call(
            "Runtime.evaluate",
            expression=script % (bridge_url, keys.token(sub="from-page")),
            awaitPromise=True,
            returnByValue=True,
        )
        with_cookie = await browser.call(
            "Runtime.evaluate",
            expression=cookie_script % (bridge_url, keys.token(sub="cookie-page"), *[bridge_url] * 3),
            awaitPromise=True,
            returnByValue=True,
        )
        await browser.open(foreign_page)
        refused = await browser.call(
            "Runtime.evaluate",
            expression=script % (bridge_url, keys.token(sub="from-foreign")),
            awaitPromise=True,
            returnByValue=True,
        )
    finally:
        await browser.close()

    assert allowed["result"]["value"] == {
        "status": 200,
        "uid": "web:from-page",
        "requestId": True,
        "origin": page_origin,
    }
    # the foreign page really loaded (its own origin), and the browser refused to hand it the answer
    assert refused["result"]["value"]["origin"] == foreign_page.rstrip("/")
    assert "Failed to fetch" in refused["result"]["value"]["error"]
    assert await db.users.count_documents({"uid": "web:from-foreign"}) == 0  # the preflight stopped it
    assert with_cookie["result"]["value"] == {"cookie": 200, "me": 200, "uid": "web:cookie-page"}
