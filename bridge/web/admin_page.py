"""The admin web page: server-rendered, no scripts or external assets, behind the admin credential.

The credential (an admin API key or an admin's partner token) is pasted once into the sign-in form
and kept in an HttpOnly, SameSite=Strict cookie scoped to /admin. Actions are POST forms; a POST
whose Origin is not this site is refused.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import BaseModel, Field

from bridge.firebase.auth_admin import AuthRefusedInput, AuthUnavailable
from bridge.services.admin import PartlyApplied, UserFilter, UserNotFound
from bridge.services.verdict import PENDING_FIRST_SIGN_IN
from bridge.store.user_refs import BadUserRef
from bridge.web.access import ADMIN_COOKIE, authenticate_admin
from bridge.web.bodies import read_form
from bridge.web.contract import PAGE_OR_PROBLEM, REDIRECT, RouteTable
from bridge.web.keys import ADMIN_SERVICE, SETTINGS
from bridge.web.problems import Problem, bad_request
from bridge.web.request_log import current_request_id

log = logging.getLogger("bridge.admin")
routes = RouteTable("admin page")
# `{ref}` is greedy (a reference may hold "/"): the user's page must not also match its actions.
USER_PATH = r"/admin/users/{ref:.+(?<!/disable)(?<!/enable)(?<!/revoke)(?<!/delete)}"
# What the page shows as "unknown user": neither store knows it, or the path names no user.
UNKNOWN_USER = (UserNotFound, BadUserRef, AuthRefusedInput)
SIGN_IN = {401: "text/html", 403: "text/html"}  # the sign-in form, as a page
PAGE = {200: "text/html", **SIGN_IN}


class AdminLoginForm(BaseModel):
    credential: str = Field(
        pattern=r"[^ \t\r\n\f\v]", description="An admin API key or an admin's partner token"
    )


class AdminPageQuery(BaseModel):
    partner: str | None = None
    email: str | None = None
    uid_prefix: str | None = None
    cursor: str | None = Field(None, description="From the page's own 'Next page' link")


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left}
.ok{color:#176f2c}.pending{color:#5f6368}.bad{color:#b3261e;font-weight:600}code{font-size:12px}
form.inline{display:inline}input,button{font:inherit;padding:.25rem .5rem}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:2rem}pre{background:#f6f6f6;padding:.75rem;overflow:auto}
"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    document = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)} · bridge admin"
        f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=document,
        content_type="text/html",
        status=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            "X-Frame-Options": "DENY",
        },
    )


def _firebase_unavailable(error: AuthUnavailable) -> web.Response:
    """What the JSON routes answer as 503 firebase-unavailable, as a page (never a 500)."""
    log.warning("firebase unavailable", extra={"error": str(error)})
    page = _page(
        "Firebase unavailable",
        "<p class=bad>Firebase Authentication is not reachable; try again shortly.</p>",
        503,
    )
    page.headers["Retry-After"] = "5"
    return page


def _sign_in_form(message: str, status: int) -> web.Response:
    return _page(
        "Sign in",
        f"<p>{html.escape(message)}</p>"
        "<form method=post action=/admin/login><label>Admin API key or admin token "
        "<input type=password name=credential size=60 autocomplete=off></label> "
        "<button type=submit>Sign in</button></form>",
        status,
    )


async def _admin_or_page(request: web.Request) -> str | web.Response:
    try:
        return await authenticate_admin(request)
    except Problem as problem:
        return _sign_in_form(problem.detail or problem.title, problem.status)


BLANKS = " \t\r\n\f\v"  # what the contract's `credential` pattern counts as blank


def _same_origin(request: web.Request) -> bool:
    """The form was posted from this site. Behind a TLS-terminating proxy bridge sees http while
    the browser's Origin says https (same host): both schemes of this very host count."""
    origin = request.headers.get("Origin")
    return origin is None or origin in {f"{scheme}://{request.host}" for scheme in (request.scheme, "https")}


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


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
        return _page("Refused", "<p>Cross-site form refused.</p>", 403)
    form = await read_form(request)
    credential = form.get("credential", "").strip(BLANKS)
    if not credential:
        raise bad_request("The form needs a `credential`.")
    response = _see_other("/admin")
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
    response = _see_other("/admin")
    response.del_cookie(ADMIN_COOKIE, path="/admin")
    return response


def _mark(row: dict[str, Any]) -> str:
    verdict = row["verdict"]
    if verdict.get("state") == PENDING_FIRST_SIGN_IN:
        return "<span class=pending>… pending first sign-in</span>"
    if verdict["consistent"]:
        return "<span class=ok>✓ consistent</span>"
    problems = ", ".join(d.get("detail") or f"{d['field']} differs" for d in verdict["differences"])
    return f"<span class=bad>✗ {html.escape(problems)}</span>"


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
    partner, email, prefix = (request.query.get(k) or None for k in ("partner", "email", "uid_prefix"))
    service = request.app[ADMIN_SERVICE]
    page = await service.list_users(
        UserFilter(partner=partner, email=email, uid_prefix=prefix), request.query.get("cursor") or None, 50
    )
    rows = await service.with_verdicts(page["users"])
    lines = []
    for row in rows:
        user = row["mongodb"]
        link = f"/admin/users/{quote(user['uid'], safe='')}"
        lines.append(
            f'<tr><td><a href="{link}"><code>{html.escape(user["uid"])}</code></a></td>'
            f"<td>{html.escape(user['partner'])}</td><td>{html.escape(user.get('email') or '')}</td>"
            f"<td>{'disabled' if user['disabled'] else 'active'}</td><td>{_mark(row)}</td></tr>"
        )
    more = ""
    if page["next_cursor"]:
        query = urlencode(
            {
                k: v
                for k, v in {
                    "partner": partner,
                    "email": email,
                    "uid_prefix": prefix,
                    "cursor": page["next_cursor"],
                }.items()
                if v
            }
        )
        more = f'<p><a href="/admin?{html.escape(query)}">Next page →</a></p>'
    body = (
        f"<p>Signed in as <code>{html.escape(admin)}</code>. "
        "<form class=inline method=post action=/admin/logout><button>Sign out</button></form></p>"
        "<form method=get action=/admin>"
        f'<input name=partner placeholder=partner value="{html.escape(partner or "")}"> '
        f'<input name=email placeholder=email value="{html.escape(email or "")}"> '
        f'<input name=uid_prefix placeholder="uid prefix" value="{html.escape(prefix or "")}"> '
        "<button>Filter</button></form>"
        f"<p>{page['total']} users</p><table><thead><tr><th>uid</th><th>partner</th><th>email</th>"
        "<th>state</th><th>MongoDB vs Firebase</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>{more}"
    )
    return _page("Users", body)


def _record(title: str, record: dict[str, Any] | None, pending: bool = False) -> str:
    if record is None and pending:
        return f"<div><h2>{title}</h2><p class=pending>not yet: {PENDING_FIRST_SIGN_IN}</p></div>"
    if record is None:
        return f"<div><h2>{title}</h2><p class=bad>missing</p></div>"
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in record.items()
    )
    return f"<div><h2>{title}</h2><table>{rows}</table></div>"


@routes.get(
    USER_PATH,
    summary="Admin page: one user",
    auth="admin",
    name="admin_user",
    responses={**PAGE, 404: PAGE_OR_PROBLEM},
    errors=(503,),
    description="404 is the page for a user neither store knows, or problem+json for a path "
    "that names no user at all.",
)
async def user_detail(request: web.Request) -> web.Response:
    admin = await _admin_or_page(request)
    if isinstance(admin, web.Response):
        return admin
    ref = request.match_info["ref"]
    try:
        state = await request.app[ADMIN_SERVICE].verify(ref)
    except UNKNOWN_USER:
        return _page("Unknown user", f"<p>Neither store knows <code>{html.escape(ref)}</code>.</p>", 404)
    except AuthUnavailable as error:
        return _firebase_unavailable(error)
    verdict = state["verdict"]
    pending = verdict.get("state") == PENDING_FIRST_SIGN_IN
    summary = (
        "<p class=pending>… pending first sign-in: Firebase creates this user when the app first "
        "signs in with its custom token</p>"
        if pending
        else "<p class=ok>✓ consistent in MongoDB and Firebase</p>"
        if verdict["consistent"]
        else "<ul>"
        + "".join(
            f"<li class=bad>{html.escape(d.get('detail') or d['field'] + ' differs')}</li>"
            for d in verdict["differences"]
        )
        + "</ul>"
    )
    target = f"/admin/users/{quote(state['uid'], safe='')}"
    buttons = "".join(
        f'<form class=inline method=post action="{target}/{action}"><button>{label}</button></form> '
        for action, label in (
            ("disable", "Disable"),
            ("enable", "Enable"),
            ("revoke", "Revoke sessions"),
            ("delete", "Delete"),
        )
    )
    body = (
        f"<p><a href=/admin>← all users</a></p><p><code>{html.escape(state['uid'])}</code> · "
        f"{state['devices']} device(s)</p>{summary}<p>{buttons}</p>"
        f"<div class=cols>{_record('MongoDB', state['mongodb'])}"
        f"{_record('Firebase Auth', state['firebase'], pending)}</div>"
    )
    return _page("User", body)


@routes.post(
    "/admin/users/{ref:.+}/{action:[^/]+}",  # unknown actions: 404
    summary="Admin page: disable, enable, revoke or delete",
    auth="admin",
    name="admin_user_action",
    responses={303: REDIRECT, **SIGN_IN, 404: PAGE_OR_PROBLEM, 502: "text/html"},
    errors=(503,),
)
async def act(request: web.Request) -> web.StreamResponse:
    admin = await _admin_or_page(request)
    if isinstance(admin, web.Response):
        return admin
    if not _same_origin(request):
        return _page("Refused", "<p>Cross-site form refused.</p>", 403)
    ref, action = request.match_info["ref"], request.match_info["action"]
    if action not in ("disable", "enable", "revoke", "delete"):
        return _page("Unknown action", "<p>No such action.</p>", 404)
    service = request.app[ADMIN_SERVICE]
    request_id = current_request_id()
    try:
        if action in ("disable", "enable"):
            await service.set_disabled(ref, action == "disable", admin, request_id)
        elif action == "revoke":
            await service.revoke_sessions(ref, admin, request_id)
        else:
            await service.delete(ref, admin, request_id)
            return _see_other("/admin")
    except UNKNOWN_USER:
        return _page("Unknown user", "<p>Neither store knows this user.</p>", 404)
    except AuthUnavailable as error:
        return _firebase_unavailable(error)
    except PartlyApplied as error:
        return _page(
            "Partly applied",
            f"<p class=bad>{html.escape(str(error))}</p>"
            f'<p><a href="/admin/users/{quote(ref, safe="")}">See the verdict</a></p>',
            502,
        )
    return _see_other(f"/admin/users/{quote(ref, safe='')}")
