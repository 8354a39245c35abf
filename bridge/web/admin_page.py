"""The admin web page: server-rendered from templates (bridge/web/templates/admin_*.html), no
scripts or external assets, behind the admin credential.

The credential (an admin API key or an admin's partner token) is pasted once into the sign-in form
and kept in an HttpOnly, SameSite=Strict cookie scoped to /admin. Actions are POST forms; a POST
whose Origin is not this site is refused.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping

from aiohttp import web
from pydantic import BaseModel, Field

from bridge.firebase.auth_admin import AuthRefusedInput, AuthUnavailable
from bridge.services.admin import PartlyApplied, UserFilter, UserNotFound
from bridge.services.verdict import PENDING_FIRST_SIGN_IN
from bridge.store.user_refs import BadUserRef
from bridge.web.access import ADMIN_COOKIE, authenticate_admin
from bridge.web.bodies import read_form
from bridge.web.contract import PAGE_OR_PROBLEM, REDIRECT, Handler, RouteTable
from bridge.web.failures import problem_for
from bridge.web.keys import ADMIN_SERVICE, SETTINGS
from bridge.web.pages import render_page
from bridge.web.problems import Problem, bad_request
from bridge.web.request_log import current_request_id

log = logging.getLogger("bridge.admin")
routes = RouteTable("admin page")
# `{ref}` is greedy (a reference may hold "/"): the user's page must not also match its actions.
USER_PATH = r"/admin/users/{ref:.+(?<!/disable)(?<!/enable)(?<!/revoke)(?<!/delete)}"
SIGN_IN = {401: "text/html", 403: "text/html"}  # the sign-in form, as a page
PAGE = {200: "text/html", **SIGN_IN}
ACTIONS = (("disable", "Disable"), ("enable", "Enable"), ("revoke", "Revoke sessions"), ("delete", "Delete"))
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
}


class AdminLoginForm(BaseModel):
    credential: str = Field(
        pattern=r"[^ \t\r\n\f\v]", description="An admin API key or an admin's partner token"
    )


class AdminPageQuery(BaseModel):
    partner: str | None = None
    email: str | None = None
    uid_prefix: str | None = None
    cursor: str | None = Field(None, description="From the page's own 'Next page' link")


def _page(
    request: web.Request,
    template: str,
    title: str,
    status: int = 200,
    **context: object,
) -> web.Response:
    return render_page(request, template, {"title": title, **context}, status=status, headers=HEADERS)


def _message(request: web.Request, title: str, message: str, status: int, **context: object) -> web.Response:
    return _page(request, "admin_message.html", title, status, message=message, **context)


def _shows_failures(handler: Handler) -> Handler:
    """The admin service's known failures, as pages (the admin API answers them as problems)."""

    @functools.wraps(handler)
    async def shown(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (UserNotFound, BadUserRef, AuthRefusedInput):  # no such user, or no user reference
            ref = request.match_info["ref"]
            return _page(request, "admin_unknown_user.html", "Unknown user", 404, ref=ref)
        except AuthUnavailable as error:  # the admin API's problem, as a page
            problem = problem_for(error)
            assert problem is not None  # the table answers every AuthUnavailable
            message = problem.detail or problem.title
            page = _message(request, problem.title, message, problem.status, tone="bad")
            page.headers.update(problem.headers)
            return page
        except PartlyApplied as error:
            ref = request.match_info["ref"]
            return _message(request, "Partly applied", str(error), 502, tone="bad", verdict_of=ref)

    return shown


async def _admin_or_page(request: web.Request) -> str | web.Response:
    try:
        return await authenticate_admin(request)
    except Problem as problem:
        message = problem.detail or problem.title
        return _page(request, "admin_sign_in.html", "Sign in", problem.status, message=message)


BLANKS = " \t\r\n\f\v"  # what the contract's `credential` pattern counts as blank


def _same_origin(request: web.Request) -> bool:
    """The form was posted from this site. Behind a TLS-terminating proxy bridge sees http while
    the browser's Origin says https (same host): both schemes of this very host count."""
    origin = request.headers.get("Origin")
    return origin is None or origin in {f"{scheme}://{request.host}" for scheme in (request.scheme, "https")}


def _cross_site(request: web.Request) -> web.Response:
    return _message(request, "Refused", "Cross-site form refused.", 403)


def _see_other(request: web.Request, name: str, **parts: str) -> web.Response:
    location = request.app.router[name].url_for(**parts)
    return web.Response(status=303, headers={"Location": str(location), "Cache-Control": "no-store"})


@routes.post(
    "/admin/login",
    summary="Admin page sign-in (form: credential)",
    name="admin_login",
    form=AdminLoginForm,
    responses={303: REDIRECT, 403: "text/html"},
    errors=(400, 408, 413, 415),
)
async def log_in(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        return _cross_site(request)
    form = await read_form(request)
    credential = form.get("credential", "").strip(BLANKS)
    if not credential:
        raise bad_request("The form needs a `credential`.")
    response = _see_other(request, "admin_users")
    settings = request.app[SETTINGS]
    response.set_cookie(
        ADMIN_COOKIE,
        credential,
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=settings.session_cookie_secure,
        max_age=8 * 3600,
    )
    return response


@routes.post("/admin/logout", summary="Admin page sign-out", name="admin_logout", responses={303: REDIRECT})
async def log_out(request: web.Request) -> web.StreamResponse:
    response = _see_other(request, "admin_users")
    response.del_cookie(ADMIN_COOKIE, path="/admin")
    return response


@routes.get(
    "/admin",
    summary="Admin page: users and verdicts",
    auth="admin",
    name="admin_users",
    query=AdminPageQuery,
    responses=PAGE,
    errors=(400, 503),
)
async def user_list(request: web.Request) -> web.Response:
    admin = await _admin_or_page(request)
    if isinstance(admin, web.Response):
        return admin
    filters = {name: request.query.get(name) or None for name in ("partner", "email", "uid_prefix")}
    service = request.app[ADMIN_SERVICE]
    page = await service.list_users(
        UserFilter(partner=filters["partner"], email=filters["email"], uid_prefix=filters["uid_prefix"]),
        request.query.get("cursor") or None,
        50,
    )
    rows = [row.as_json() for row in await service.with_verdicts(page.users)]
    return _page(
        request,
        "admin_users.html",
        "Users",
        admin=admin,
        filters=filters,
        rows=rows,
        total=page.total,
        next_page=_next_page(filters, page.next_cursor),
        pending_first_sign_in=PENDING_FIRST_SIGN_IN,
    )


def _next_page(filters: Mapping[str, str | None], cursor: str | None) -> dict[str, str] | None:
    """The query of the 'Next page' link: the same filters, the next cursor."""
    if not cursor:
        return None
    return {name: value for name, value in {**filters, "cursor": cursor}.items() if value}


@routes.get(
    USER_PATH,
    summary="Admin page: one user",
    auth="admin",
    name="admin_user",
    responses={**PAGE, 404: PAGE_OR_PROBLEM, 503: PAGE_OR_PROBLEM},
    description="404 is the page for a user neither store knows, or problem+json for a path "
    "that names no user at all.",
)
@_shows_failures
async def user_detail(request: web.Request) -> web.Response:
    admin = await _admin_or_page(request)
    if isinstance(admin, web.Response):
        return admin
    state = (await request.app[ADMIN_SERVICE].verify(request.match_info["ref"])).as_json()
    return _page(
        request,
        "admin_user.html",
        "User",
        state=state,
        pending=state["verdict"].get("state") == PENDING_FIRST_SIGN_IN,
        actions=ACTIONS,
        pending_first_sign_in=PENDING_FIRST_SIGN_IN,
    )


@routes.post(
    "/admin/users/{ref:.+}/{action:[^/]+}",  # unknown actions: 404
    summary="Admin page: disable, enable, revoke or delete",
    auth="admin",
    name="admin_user_action",
    responses={303: REDIRECT, **SIGN_IN, 404: PAGE_OR_PROBLEM, 502: "text/html", 503: PAGE_OR_PROBLEM},
)
@_shows_failures
async def act(request: web.Request) -> web.StreamResponse:
    admin = await _admin_or_page(request)
    if isinstance(admin, web.Response):
        return admin
    if not _same_origin(request):
        return _cross_site(request)
    ref, action = request.match_info["ref"], request.match_info["action"]
    if action not in dict(ACTIONS):
        return _message(request, "Unknown action", "No such action.", 404)
    service = request.app[ADMIN_SERVICE]
    request_id = current_request_id()
    if action in ("disable", "enable"):
        await service.set_disabled(ref, action == "disable", admin, request_id)
    elif action == "revoke":
        await service.revoke_sessions(ref, admin, request_id)
    else:
        await service.delete(ref, admin, request_id)
        return _see_other(request, "admin_users")
    return _see_other(request, "admin_user", ref=ref)
