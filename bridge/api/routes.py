"""Every route bridge serves, in one place."""

from __future__ import annotations

from aiohttp import web

from bridge.api import health, login


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_post("/v1/login", login.login)
