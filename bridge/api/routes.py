"""Every route bridge serves, in one place."""

from __future__ import annotations

from aiohttp import web

from bridge.api import accounts, health, login, redirect_login, sessions, tokens


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    # apps
    app.router.add_post("/v1/login", login.login)
    app.router.add_get("/v1/login/redirect", redirect_login.redirect_login)
    app.router.add_post("/v1/sessions", sessions.exchange)
    app.router.add_post("/v1/sessions/refresh", sessions.refresh)
    app.router.add_post("/v1/sessions/cookie", sessions.create_cookie)
    app.router.add_get("/v1/me", sessions.me)
    app.router.add_post("/v1/logout", sessions.logout)
    # backends (API keys)
    app.router.add_post("/v1/accounts", accounts.create_account)
    app.router.add_post("/v1/custom-tokens", tokens.mint_custom_token)
    app.router.add_get("/v1/api-keys/me", tokens.current_api_key)
