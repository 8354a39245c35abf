"""Every route bridge serves, in one place."""

from __future__ import annotations

from aiohttp import web

from bridge.api import health, login, tokens


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_post("/v1/login", login.login)
    app.router.add_post("/v1/custom-tokens", tokens.mint_custom_token)
    app.router.add_get("/v1/api-keys/me", tokens.current_api_key)
