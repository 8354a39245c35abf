"""Every route bridge serves, in one place."""

from __future__ import annotations

from aiohttp import web

from bridge.api import accounts, devices, health, login, notifications, redirect_login, sessions, tokens


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
    app.router.add_get("/v1/me/devices", devices.list_my_devices)
    app.router.add_put("/v1/me/devices", devices.register_my_device)
    app.router.add_delete("/v1/me/devices", devices.remove_my_device)
    # backends (API keys)
    app.router.add_post("/v1/accounts", accounts.create_account)
    app.router.add_post("/v1/custom-tokens", tokens.mint_custom_token)
    app.router.add_get("/v1/api-keys/me", tokens.current_api_key)
    app.router.add_put("/v1/users/{ref:.+}/devices", devices.register_user_device)
    app.router.add_delete("/v1/users/{ref:.+}/devices", devices.remove_user_device)
    app.router.add_post("/v1/notifications", notifications.send_notification)
    app.router.add_get("/v1/notifications/{id}", notifications.notification_report)
