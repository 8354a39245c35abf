"""Every route bridge serves, in one place."""

from __future__ import annotations

from aiohttp import web

from bridge.web import (
    accounts,
    admin,
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
from bridge.web import admin_page as pages

# A user reference may hold "/" (`users/{uid}`), so `{ref}` is greedy; the routes that take the
# reference alone must not also match the routes that add an action after it, or a request for one
# would be answered by (and a 405 would advertise the methods of) the other.
ADMIN_REF = r"{ref:.+(?<!/disable)(?<!/enable)(?<!/revoke)(?<!/claims)}"
PAGE_REF = r"{ref:.+(?<!/disable)(?<!/enable)(?<!/revoke)(?<!/delete)}"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", metrics.metrics_endpoint)
    app.router.add_get("/openapi.json", openapi.openapi_json)
    app.router.add_get("/docs", openapi.docs_page)
    # apps
    app.router.add_post("/v1/login", login.login)
    # No HEAD: a link scanner's HEAD must not run the login (and spend a single-use token).
    app.router.add_get("/v1/login/redirect", redirect_login.redirect_login, allow_head=False)
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
    # admins (admin API key or an admin's partner token)
    app.router.add_get("/admin/v1/users", admin.list_users)
    app.router.add_get(f"/admin/v1/users/{ADMIN_REF}", admin.show_user)
    app.router.add_post("/admin/v1/users/{ref:.+}/disable", admin.disable_user)
    app.router.add_post("/admin/v1/users/{ref:.+}/enable", admin.enable_user)
    app.router.add_post("/admin/v1/users/{ref:.+}/revoke", admin.revoke_user)
    app.router.add_put("/admin/v1/users/{ref:.+}/claims", admin.replace_claims)
    app.router.add_delete(f"/admin/v1/users/{ADMIN_REF}", admin.delete_user)
    app.router.add_get("/admin/v1/audit", admin.audit)
    app.router.add_get("/admin/v1/reconcile", admin.reconcile)
    # the admin web page
    app.router.add_get("/admin", pages.user_list)
    app.router.add_post("/admin/login", pages.log_in)
    app.router.add_post("/admin/logout", pages.log_out)
    app.router.add_get(f"/admin/users/{PAGE_REF}", pages.user_detail)
    app.router.add_post("/admin/users/{ref:.+}/{action:[^/]+}", pages.act)  # unknown actions: 404
    # partners' own routes ([partners.X.route]), in their platforms' contracts
    partner_routes.add_partner_routes(app)
