"""Every route bridge serves: the handler modules' tables, added to the router in one place."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from bridge.web import (
    accounts,
    admin,
    admin_page,
    devices,
    health,
    login,
    metrics,
    notifications,
    openapi,
    partner_routes,
    redirect_login,
    sessions,
    tokens,
)
from bridge.web.contract import ROUTES, Route
from bridge.web.pages import setup_pages

TABLES = (
    health.routes,
    metrics.routes,
    openapi.routes,
    login.routes,  # apps
    redirect_login.routes,
    sessions.routes,
    devices.routes,  # apps and backends
    accounts.routes,  # backends (API keys)
    tokens.routes,
    notifications.routes,
    admin.routes,  # admins (admin API key or an admin's partner token)
    admin_page.routes,
)


def bridge_routes() -> tuple[Route, ...]:
    return tuple(route for table in TABLES for route in table)


def add_routes(app: web.Application) -> None:
    """bridge's routes, then the partners' own routes ([partners.X.route], in their platforms'
    contracts); the app keeps the records for its API document. Pages link by route name, so the
    templates are set up here too."""
    setup_pages(app)
    own = bridge_routes()
    _register(app, own, name_by_path=True)
    partners = tuple(partner_routes.partner_routes(app))
    _register(app, partners, name_by_path=False)  # a partner's path is its own text
    app[ROUTES] = (*own, *partners)


def _register(app: web.Application, declared: Iterable[Route], *, name_by_path: bool) -> None:
    """One resource per path, with a route per method (GET also answers HEAD unless the route says
    otherwise). A resource is named by its routes' `name`, else (name_by_path) by its path."""
    resources: dict[str, web.Resource] = {}
    for route in declared:
        resource = resources.get(route.path)
        if resource is None:
            name = route.name or (_name_for(route.documented_path) if name_by_path else None)
            resource = app.router.add_resource(route.path, name=name)
            resources[route.path] = resource
        resource.add_route(route.method, route.handler)
        if route.method == "GET" and route.allow_head:
            resource.add_route("HEAD", route.handler)


def _name_for(path: str) -> str:
    """`/v1/users/{ref}/devices` → `v1_users_ref_devices`."""
    return re.sub(r"\W+", "_", path).strip("_")


def openapi_document() -> dict[str, Any]:
    """The API document of bridge's own routes (an app adds its partners' routes)."""
    return openapi.build_document(bridge_routes())
