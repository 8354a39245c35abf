"""The admin HTTP API under /admin/v1 (admin credential required on every route)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bridge.services.admin import Deleted, UserFilter, UserState
from bridge.services.verdict import mongodb_view
from bridge.web import schemas
from bridge.web.access import ADMIN, requires_admin
from bridge.web.answers import json_answer
from bridge.web.bodies import read_body
from bridge.web.contract import Handler, RouteTable
from bridge.web.keys import ADMIN_SERVICE, AUDIT_LOG
from bridge.web.problems import invalid_fields
from bridge.web.request_log import current_request_id

Query = TypeVar("Query", bound=BaseModel)

routes = RouteTable("admin")
ADMIN_ERRORS = (400, 401, 403, 404, 502, 503)
# A user reference may hold "/" (`users/{uid}`), so `{ref}` is greedy; the routes that take the
# reference alone must not also match the routes that add an action after it, or a request for one
# would be answered by (and a 405 would advertise the methods of) the other.
USER_PATH = r"/admin/v1/users/{ref:.+(?<!/disable)(?<!/enable)(?<!/revoke)(?<!/claims)}"


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    """Query date-times are RFC 3339 with a time zone, as documented (`format: date-time`): not a
    number of seconds (`since=0.5`) nor a date without a zone, which pydantic would also take."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2026-11-01T00:00:00Z")
    return value


DateTime = Annotated[datetime, BeforeValidator(_rfc3339)]


class UserQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner: str | None = None
    email: str | None = None
    uid_prefix: Annotated[str, Field(max_length=256)] | None = None
    created_from: DateTime | None = None
    created_to: DateTime | None = None
    disabled: bool | None = None
    cursor: Annotated[str, Field(max_length=2048)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    verify: bool = False


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: DateTime | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class ClaimsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    claims: dict[str, Any]


def parse_query(request: web.Request, model: type[Query]) -> Query:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as error:
        raise invalid_fields("The query has invalid parameters.", error) from None


@routes.get(
    "/admin/v1/users",
    summary="List and search users",
    auth="admin",
    query=UserQuery,
    responses={200: schemas.AdminUserPage},
    errors=ADMIN_ERRORS,
)
@requires_admin
async def list_users(request: web.Request) -> web.Response:
    query = parse_query(request, UserQuery)
    filters = UserFilter(
        query.partner, query.email, query.uid_prefix, query.created_from, query.created_to, query.disabled
    )
    service = request.app[ADMIN_SERVICE]
    page = await service.list_users(filters, query.cursor, query.limit)
    if query.verify:
        rows: list[Any] = [row.as_json() for row in await service.with_verdicts(page.users)]
    else:
        rows = [mongodb_view(user) for user in page.users]
    return json_answer(schemas.AdminUserPage(users=rows, total=page.total, next_cursor=page.next_cursor))


@routes.get(
    USER_PATH,
    summary="Both records and the verdict",
    auth="admin",
    responses={200: schemas.AdminUserState},
    errors=ADMIN_ERRORS,
)
@requires_admin
async def show_user(request: web.Request) -> web.Response:
    state = await request.app[ADMIN_SERVICE].verify(request.match_info["ref"])
    return json_answer(schemas.AdminUserState.model_validate(state.as_json()))


def _action(
    run: Callable[[web.Request, str, str, str | None], Awaitable[UserState | Deleted]],
    answer: type[BaseModel] = schemas.AdminUserState,
) -> Handler:
    @requires_admin
    async def handler(request: web.Request) -> web.Response:
        result = await run(request, request.match_info["ref"], request[ADMIN], current_request_id())
        return json_answer(answer.model_validate(result.as_json()))

    return handler


def _disable(r: web.Request, ref: str, actor: str, rid: str | None) -> Awaitable[UserState | Deleted]:
    return r.app[ADMIN_SERVICE].set_disabled(ref, True, actor, rid)


def _enable(r: web.Request, ref: str, actor: str, rid: str | None) -> Awaitable[UserState | Deleted]:
    return r.app[ADMIN_SERVICE].set_disabled(ref, False, actor, rid)


def _revoke(r: web.Request, ref: str, actor: str, rid: str | None) -> Awaitable[UserState | Deleted]:
    return r.app[ADMIN_SERVICE].revoke_sessions(ref, actor, rid)


# The one-word actions on a user: the route's last segment -> (its summary, what it runs).
ACTIONS = {
    "disable": ("Disable (and revoke sessions)", _disable),
    "enable": ("Enable", _enable),
    "revoke": ("Revoke sessions", _revoke),
}
for _verb, (_summary, _run) in ACTIONS.items():
    routes.post(
        f"/admin/v1/users/{{ref:.+}}/{_verb}",
        summary=_summary,
        auth="admin",
        responses={200: schemas.AdminUserState},
        errors=ADMIN_ERRORS,
    )(_action(_run))


@routes.put(
    "/admin/v1/users/{ref:.+}/claims",
    summary="Replace custom claims",
    auth="admin",
    body=ClaimsBody,
    responses={200: schemas.AdminUserState},
    errors=ADMIN_ERRORS,
)
@requires_admin
async def replace_claims(request: web.Request) -> web.Response:
    body = await read_body(request, ClaimsBody)
    service = request.app[ADMIN_SERVICE]
    result = await service.replace_claims(
        request.match_info["ref"], body.claims, request[ADMIN], current_request_id()
    )
    return json_answer(schemas.AdminUserState.model_validate(result.as_json()))


delete_user = routes.delete(
    USER_PATH,
    summary="Delete from both stores",
    auth="admin",
    responses={200: schemas.Deleted},
    errors=ADMIN_ERRORS,
)(_action(lambda r, ref, actor, rid: r.app[ADMIN_SERVICE].delete(ref, actor, rid), schemas.Deleted))


@routes.get(
    "/admin/v1/audit",
    summary="The audit log",
    auth="admin",
    query=AuditQuery,
    responses={200: schemas.AuditPage},
    errors=ADMIN_ERRORS,
)
@requires_admin
async def audit(request: web.Request) -> web.Response:
    query = parse_query(request, AuditQuery)
    entries = await request.app[AUDIT_LOG].search(
        actor=query.actor, action=query.action, target=query.target, since=query.since, limit=query.limit
    )
    return json_answer(schemas.AuditPage(entries=[entry.as_json() for entry in entries]))


@routes.get(
    "/admin/v1/reconcile",
    summary="Reconcile dry run",
    auth="admin",
    responses={200: schemas.ReconcileAnswer},
    errors=ADMIN_ERRORS,
)
@requires_admin
async def reconcile(request: web.Request) -> web.Response:
    """A dry run: what `bridge admin reconcile` would report (it fixes only with --fix)."""
    report = await request.app[ADMIN_SERVICE].reconcile(fix=False, actor=request[ADMIN])
    return json_answer(schemas.ReconcileAnswer.model_validate(report.as_json()))
