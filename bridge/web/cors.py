"""CORS for browser apps (aiohttp-cors): which origins may call which routes from a page.

- login routes: POST /v1/login takes the origins of every partner (the body names the partner);
  a partner's own route takes that partner's `allowed_origins`. No credentials: the credential is
  in the body or the Authorization header, never a cookie.
- session and "me" routes: BRIDGE_CORS_ALLOWED_ORIGINS. Credentials (the session cookie) only where
  the cookie is set or read: /v1/sessions/cookie, /v1/me, /v1/me/devices, /v1/logout.

Origins are exact (`https://app.example`); `*` is refused by the settings, so a wildcard never meets
credentials. A route with no allowed origin has no CORS at all: browsers refuse cross-origin calls.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp_cors
from aiohttp import web

from bridge.web.keys import PARTNERS, SETTINGS

ALLOW_HEADERS = ("Content-Type", "Authorization", "X-Request-Id", "Idempotency-Key")
EXPOSE_HEADERS = ("X-Request-Id", "Retry-After")
PREFLIGHT_CACHE_SECONDS = 600

# Routes a page may call with the global origins, and whether the session cookie is involved.
SESSION_ROUTES: dict[str, bool] = {
    "/v1/sessions": False,
    "/v1/sessions/refresh": False,
    "/v1/sessions/cookie": True,
    "/v1/me": True,
    "/v1/me/devices": True,
    "/v1/logout": True,
}


def _options(origins: Iterable[str], credentials: bool) -> dict[str, aiohttp_cors.ResourceOptions]:
    return {
        origin: aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
            allow_credentials=credentials,
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
            max_age=PREFLIGHT_CACHE_SECONDS,
        )
        for origin in sorted(set(origins))
    }


def setup_cors(app: web.Application) -> None:
    """Call after every route is added."""
    settings, partners = app[SETTINGS], app[PARTNERS]
    login_origins = {origin for p in partners.values() for origin in p.allowed_origins}
    route_origins = {
        p.route.path: p.allowed_origins
        for p in partners.values()
        if p.route is not None and p.route.contract != "redirect"
    }
    cors = aiohttp_cors.setup(app)
    enabled: set[str] = set()
    for route in list(app.router.routes()):
        resource = route.resource
        if resource is None or route.method == "OPTIONS":
            continue
        path = resource.canonical
        if path == "/v1/login":
            options = _options(login_origins, credentials=False)
        elif path in route_origins:
            options = _options(route_origins[path], credentials=False)
        elif path in SESSION_ROUTES:
            options = _options(settings.cors_allowed_origins, credentials=SESSION_ROUTES[path])
        else:
            continue
        if options:
            cors.add(route, options)
            enabled.add(path)
    app[CORS_PATHS] = frozenset(enabled)
    app.on_response_prepare.append(_vary_on_origin)


CORS_PATHS: web.AppKey[frozenset[str]] = web.AppKey("cors_paths", frozenset)


async def _vary_on_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Answers of CORS routes depend on the Origin header: shared caches must keep them apart."""
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical in request.app[CORS_PATHS]:
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin"
