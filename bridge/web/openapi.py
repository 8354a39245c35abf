"""The API contract: an OpenAPI 3.1 document built from one catalog of every route, served at
/openapi.json, and a plain HTML reference at /docs (no scripts, no CDN)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bridge import __version__
from bridge.push.messages import NotificationRequest
from bridge.web import schemas
from bridge.web.accounts import AccountBody
from bridge.web.admin import AuditQuery, ClaimsBody, UserQuery
from bridge.web.bodies import INT64_MAX, INT64_MIN
from bridge.web.devices import DeviceBody, RemoveDeviceBody
from bridge.web.login import LoginBody
from bridge.web.sessions import CookieBody, ExchangeBody, RefreshBody
from bridge.web.tokens import CustomTokenBody

JSON = "application/json"
PROBLEM = "application/problem+json"
PAGE_OR_PROBLEM = "text/html or problem"


class AdminLoginForm(BaseModel):
    credential: str = Field(
        pattern=r"[^ \t\r\n\f\v]", description="An admin API key or an admin's partner token"
    )


class AdminPageQuery(BaseModel):
    partner: str | None = None
    email: str | None = None
    uid_prefix: str | None = None
    cursor: str | None = Field(None, description="From the page's own 'Next page' link")


class RedirectQuery(BaseModel):
    partner: str
    token: str = Field(description="The partner's JWT")
    redirect: str | None = Field(None, description="Where to go afterwards; must match the allow-list")


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    # "none", "user" (ID token or session cookie), "admin", or "key:<scope>" / "key:any"
    auth: str = "none"
    body: type[BaseModel] | None = None
    # a browser form (application/x-www-form-urlencoded) instead of JSON
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # status -> response model, or a media type for non-JSON answers ("text/html", "redirect", …)
    responses: dict[int, type[BaseModel] | str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""


S = schemas
USER_ERRORS = (401, 503)
KEY_ERRORS = (400, 401, 403)
ADMIN_ERRORS = (400, 401, 403, 404, 502, 503)

CATALOG: dict[tuple[str, str], Operation] = {
    ("GET", "/healthz"): Operation("Process is alive", "health", responses={200: S.Health}),
    ("GET", "/readyz"): Operation(
        "Ready: MongoDB answers, not draining",
        "health",
        responses={200: S.Ready},
        errors=(503,),
        description="`checks.push_worker` shows the push worker: `ok`, or `{state: failing, since, "
        "reason}`; a failing push worker does not fail readiness (logins work without it).",
    ),
    ("GET", "/metrics"): Operation(
        "Prometheus metrics", "health", responses={200: "text/plain"}, errors=(401,)
    ),
    ("GET", "/openapi.json"): Operation("This document", "health", responses={200: JSON}),
    ("GET", "/docs"): Operation("Human-readable API reference", "health", responses={200: "text/html"}),
    ("POST", "/v1/login"): Operation(
        "Log in with a partner credential; get a Firebase custom token",
        "login",
        body=LoginBody,
        responses={200: S.LoginAnswer},
        errors=(400, 401, 403, 409, 413, 422, 429, 501, 502, 503, 504),
        description="`token` for jwt/oidc partners (or `Authorization: Bearer`), `username` + `password` "
        "for password partners. `session: true` also returns a Firebase session. A rejected request "
        "writes nothing. A 503 after the credential was accepted (MongoDB or Firebase down or past its "
        "timeout) may leave the user record created or refreshed, but the login is not counted and a "
        "single-use token is given back: retry with the same token.",
    ),
    ("GET", "/v1/login/redirect"): Operation(
        "Browser login: verify the partner token, then redirect with the custom token in the fragment",
        "login",
        query=RedirectQuery,
        responses={302: "redirect", 401: "text/html"},
    ),
    ("POST", "/v1/sessions"): Operation(
        "Exchange a custom token for a Firebase session",
        "sessions",
        body=ExchangeBody,
        responses={200: S.Session},
        errors=(400, 401, 501, 503),
    ),
    ("POST", "/v1/sessions/refresh"): Operation(
        "Refresh a Firebase session",
        "sessions",
        body=RefreshBody,
        responses={200: S.Session},
        errors=(400, 401, 501, 503),
    ),
    ("POST", "/v1/sessions/cookie"): Operation(
        "Set a session cookie from an ID token",
        "sessions",
        body=CookieBody,
        responses={200: S.CookieAnswer},
        errors=(400, 401, 503),
    ),
    ("GET", "/v1/me"): Operation(
        "Who am I", "sessions", auth="user", responses={200: S.MeAnswer}, errors=USER_ERRORS
    ),
    ("POST", "/v1/logout"): Operation(
        "Revoke the user's sessions and clear the cookie",
        "sessions",
        auth="user",
        responses={200: S.LogoutAnswer},
        errors=USER_ERRORS,
    ),
    ("GET", "/v1/me/devices"): Operation(
        "My devices", "push", auth="user", responses={200: S.DeviceList}, errors=USER_ERRORS
    ),
    ("PUT", "/v1/me/devices"): Operation(
        "Register this device's FCM token",
        "push",
        auth="user",
        body=DeviceBody,
        responses={200: S.DeviceList, 201: S.DeviceList},
        errors=(400, *USER_ERRORS),
    ),
    ("DELETE", "/v1/me/devices"): Operation(
        "Forget a device",
        "push",
        auth="user",
        body=RemoveDeviceBody,
        responses={200: S.DeviceRemoved},
        errors=(400, 404, *USER_ERRORS),
    ),
    ("POST", "/v1/accounts"): Operation(
        "Create an account in MongoDB and Firebase Auth",
        "accounts",
        auth="key:accounts:write",
        body=AccountBody,
        responses={200: S.AccountAnswer, 201: S.AccountAnswer},
        errors=(*KEY_ERRORS, 409, 422, 501, 503),
        description="Idempotent per (partner, external_id); honours `Idempotency-Key`.",
    ),
    ("POST", "/v1/custom-tokens"): Operation(
        "Mint a custom token for an existing user",
        "accounts",
        auth="key:tokens:mint",
        body=CustomTokenBody,
        responses={200: S.CustomTokenAnswer},
        errors=(*KEY_ERRORS, 404),
    ),
    ("GET", "/v1/api-keys/me"): Operation(
        "The calling API key", "accounts", auth="key:any", responses={200: S.ApiKeyInfo}, errors=(401,)
    ),
    ("PUT", "/v1/users/{ref}/devices"): Operation(
        "Register a device for a user",
        "push",
        auth="key:accounts:write",
        body=DeviceBody,
        responses={200: S.DeviceList, 201: S.DeviceList},
        errors=(*KEY_ERRORS, 404),
    ),
    ("DELETE", "/v1/users/{ref}/devices"): Operation(
        "Forget a user's device",
        "push",
        auth="key:accounts:write",
        body=RemoveDeviceBody,
        responses={200: S.DeviceRemoved},
        errors=(*KEY_ERRORS, 404),
    ),
    ("POST", "/v1/notifications"): Operation(
        "Send a notification by user reference or audience",
        "push",
        auth="key:notifications:send",
        body=NotificationRequest,
        responses={202: S.NotificationAccepted},
        errors=KEY_ERRORS,
    ),
    ("GET", "/v1/notifications/{id}"): Operation(
        "Delivery report",
        "push",
        auth="key:notifications:send",
        responses={200: S.NotificationReport},
        errors=(*KEY_ERRORS, 404),
    ),
    ("GET", "/admin/v1/users"): Operation(
        "List and search users",
        "admin",
        auth="admin",
        query=UserQuery,
        responses={200: S.AdminUserPage},
        errors=ADMIN_ERRORS,
    ),
    ("GET", "/admin/v1/users/{ref}"): Operation(
        "Both records and the verdict",
        "admin",
        auth="admin",
        responses={200: S.AdminUserState},
        errors=ADMIN_ERRORS,
    ),
    ("POST", "/admin/v1/users/{ref}/disable"): Operation(
        "Disable (and revoke sessions)",
        "admin",
        auth="admin",
        responses={200: S.AdminUserState},
        errors=ADMIN_ERRORS,
    ),
    ("POST", "/admin/v1/users/{ref}/enable"): Operation(
        "Enable", "admin", auth="admin", responses={200: S.AdminUserState}, errors=ADMIN_ERRORS
    ),
    ("POST", "/admin/v1/users/{ref}/revoke"): Operation(
        "Revoke sessions", "admin", auth="admin", responses={200: S.AdminUserState}, errors=ADMIN_ERRORS
    ),
    ("PUT", "/admin/v1/users/{ref}/claims"): Operation(
        "Replace custom claims",
        "admin",
        auth="admin",
        body=ClaimsBody,
        responses={200: S.AdminUserState},
        errors=ADMIN_ERRORS,
    ),
    ("DELETE", "/admin/v1/users/{ref}"): Operation(
        "Delete from both stores", "admin", auth="admin", responses={200: S.Deleted}, errors=ADMIN_ERRORS
    ),
    ("GET", "/admin/v1/audit"): Operation(
        "The audit log",
        "admin",
        auth="admin",
        query=AuditQuery,
        responses={200: S.AuditPage},
        errors=ADMIN_ERRORS,
    ),
    ("GET", "/admin/v1/reconcile"): Operation(
        "Reconcile dry run", "admin", auth="admin", responses={200: S.ReconcileAnswer}, errors=ADMIN_ERRORS
    ),
    ("GET", "/admin"): Operation(
        "Admin page: users and verdicts",
        "admin page",
        auth="admin",
        query=AdminPageQuery,
        responses={200: "text/html", 401: "text/html", 403: "text/html"},
        errors=(400, 503),
    ),
    ("POST", "/admin/login"): Operation(
        "Admin page sign-in (form: credential)",
        "admin page",
        form=AdminLoginForm,
        responses={303: "redirect", 403: "text/html"},
        errors=(400, 413, 415),
    ),
    ("POST", "/admin/logout"): Operation("Admin page sign-out", "admin page", responses={303: "redirect"}),
    ("GET", "/admin/users/{ref}"): Operation(
        "Admin page: one user",
        "admin page",
        auth="admin",
        responses={
            200: "text/html",
            401: "text/html",
            403: "text/html",
            404: PAGE_OR_PROBLEM,
            503: PAGE_OR_PROBLEM,
        },
        description="404 is the page for a user neither store knows, or problem+json for a path "
        "that names no user at all.",
    ),
    ("POST", "/admin/users/{ref}/{action}"): Operation(
        "Admin page: disable, enable, revoke or delete",
        "admin page",
        auth="admin",
        responses={
            303: "redirect",
            401: "text/html",
            403: "text/html",
            404: PAGE_OR_PROBLEM,
            502: "text/html",
            503: PAGE_OR_PROBLEM,
        },
    ),
}

SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "user": [{"idToken": []}, {"sessionCookie": []}],
    "admin": [
        {"apiKey": ["admin"]},
        {"apiKeyHeader": ["admin"]},
        {"adminPartnerToken": []},
        {"adminCookie": []},
    ],
}
SECURITY_SCHEMES = {
    "idToken": {"type": "http", "scheme": "bearer", "bearerFormat": "Firebase ID token"},
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "__session",
        "description": "Set by POST /v1/sessions/cookie (name: BRIDGE_SESSION_COOKIE_NAME)",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "brk_<key id>_<secret>",
        "description": "Backend API key; scopes: accounts:write, tokens:mint, notifications:send, admin",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
    "adminPartnerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A partner token carrying the partner's admin_claims",
    },
    "adminCookie": {"type": "apiKey", "in": "cookie", "name": "bridge_admin"},
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        if model.__name__ not in self.components:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, nested in schema.pop("$defs", {}).items():
                self.components.setdefault(name, _bounded(nested))
            self.components[model.__name__] = _bounded(schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _bounded(schema: Any) -> Any:
    """Integers without bounds get the 64-bit range bridge accepts (bridge.web.bodies); objects
    whose keys must match a pattern say that no other key is allowed."""
    if isinstance(schema, dict):
        schema = {key: _bounded(value) for key, value in schema.items()}
        if "patternProperties" in schema:  # pydantic dict keys with a pattern: no other keys
            schema.setdefault("additionalProperties", False)
        if schema.get("type") == "integer":
            schema.setdefault("minimum", INT64_MIN)
            schema.setdefault("maximum", INT64_MAX)
        return schema
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    return schema


def _security(auth: str) -> list[dict[str, list[str]]] | None:
    if auth == "none":
        return None
    if auth.startswith("key:"):
        scope = auth.removeprefix("key:")
        scopes = [] if scope == "any" else [scope]
        return [{"apiKey": scopes}, {"apiKeyHeader": scopes}]
    return SECURITY[auth]


PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "ref": {
        "schema": {"type": "string", "minLength": 1},
        "description": "A user reference: uid, partner:external_id or users/{uid}",
    },
    "action": {"schema": {"type": "string", "enum": ["disable", "enable", "revoke", "delete"]}},
    "id": {"schema": {"type": "string", "minLength": 1}, "description": "The notification's id"},
}
# Statuses every operation with a JSON body can answer (bridge.web.bodies.read_body): malformed or
# invalid JSON, a body over BRIDGE_MAX_BODY_BYTES, a media type other than JSON.
BODY_ERRORS = (400, 413, 415)


def _parameters(path: str, query: type[BaseModel] | None) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]} for name in names
    ]
    if query is not None:
        schema = query.model_json_schema()
        required = set(schema.get("required", []))
        for name, field_schema in schema["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": field_schema}
            )
    return parameters


def _response(answer: type[BaseModel] | str, schemas_: _Schemas) -> dict[str, Any]:
    if answer == PAGE_OR_PROBLEM:
        return {
            "description": "An HTML page, or problem details (RFC 9457)",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                PROBLEM: {"schema": schemas_.ref(schemas.ProblemDetails)},
            },
        }
    if answer == "redirect":
        return {"description": "Redirect", "headers": {"Location": {"schema": {"type": "string"}}}}
    if isinstance(answer, str):
        return {
            "description": answer,
            "content": {answer: {"schema": {"type": "string"} if answer != JSON else {"type": "object"}}},
        }
    return {
        "description": answer.__doc__ or answer.__name__,
        "content": {JSON: {"schema": schemas_.ref(answer)}},
    }


@cache
def openapi_document() -> dict[str, Any]:
    return _build_document(CATALOG)


def _build_document(catalog: dict[tuple[str, str], Operation]) -> dict[str, Any]:
    schemas_ = _Schemas()
    problem = schemas_.ref(schemas.ProblemDetails)
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in catalog.items():
        responses: dict[str, Any] = {
            str(code): _response(answer, schemas_) for code, answer in operation.responses.items()
        }
        extra_errors = BODY_ERRORS if operation.body is not None else ()
        for code in sorted({*operation.errors, *extra_errors}):
            responses.setdefault(
                str(code),
                {"description": "Problem details (RFC 9457)", "content": {PROBLEM: {"schema": problem}}},
            )
        entry: dict[str, Any] = {
            "summary": operation.summary,
            "tags": [operation.tag],
            "operationId": f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": responses,
        }
        if operation.description:
            entry["description"] = operation.description
        if parameters := _parameters(path, operation.query):
            entry["parameters"] = parameters
        if operation.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {JSON: {"schema": schemas_.ref(operation.body)}},
            }
        if operation.form is not None:
            form_schema = schemas_.ref(operation.form)
            entry["requestBody"] = {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": form_schema}},
            }
        if (security := _security(operation.auth)) is not None:
            entry["security"] = security
        paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bridge",
            "version": __version__,
            "description": "Partner credentials in, Firebase identities out. Errors are RFC 9457 problem "
            "details (application/problem+json).",
        },
        "paths": paths,
        "components": {"schemas": schemas_.components, "securitySchemes": SECURITY_SCHEMES},
    }


def _partner_route_operations(app: web.Application) -> dict[tuple[str, str], Operation]:
    """The partners' own routes of this app ([partners.X.route]), in their contracts."""
    from bridge.web.partner_routes import body_model_for, partner_route_paths

    answers: dict[str, type[BaseModel]] = {
        "bridge": S.LoginAnswer,
        "flutterflow": S.FlutterFlowAnswer,
        "strapi": S.StrapiAnswer,
    }
    operations: dict[tuple[str, str], Operation] = {}
    for path, partner in partner_route_paths(app).items():
        route = partner.config.route
        assert route is not None
        if route.contract == "redirect":
            token_param = getattr(partner.config, "token_param", "token")
            operations[("GET", path)] = Operation(
                f"Partner {partner.id}: browser redirect login (token in `{token_param}`)",
                "partner routes",
                responses={302: "redirect", 401: "text/html"},
            )
            continue
        operations[("POST", path)] = Operation(
            f"Partner {partner.id}: log in, answered in the {route.contract} contract",
            "partner routes",
            body=body_model_for(partner),
            responses={200: answers[route.contract]},
            errors=(400, 401, 403, 413, 422, 429, 502, 503, 504),
            description="Token partners may send `Authorization: Bearer <token>` with an empty body.",
        )
    return operations


# Per app: the document with its partner routes, built on first use (set up by add_partner_routes).
DOCUMENT_CACHE: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document_cache", dict)


def document_for(app: web.Application) -> dict[str, Any]:
    """bridge's document plus this app's partner routes."""
    cache = app.get(DOCUMENT_CACHE)
    if cache is None:
        return openapi_document()
    if "document" not in cache:
        operations = _partner_route_operations(app)
        cache["document"] = _build_document({**CATALOG, **operations}) if operations else openapi_document()
        cache["docs"] = _render_docs(cache["document"]) if operations else _docs_page()
    document: dict[str, Any] = cache["document"]
    return document


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document_for(request.app))


@cache
def _docs_page() -> str:
    return _render_docs(openapi_document())


def _render_docs(document: dict[str, Any]) -> str:
    sections = []
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            auth = (
                ", ".join(
                    next(iter(s))
                    + (f" ({', '.join(next(iter(s.values())))})" if next(iter(s.values())) else "")
                    for s in entry.get("security", [])
                )
                or "none"
            )
            body = (
                entry.get("requestBody", {})
                .get("content", {})
                .get(JSON, {})
                .get("schema", {})
                .get("$ref", "")
            )
            responses = ", ".join(entry["responses"])
            sections.append(
                f"<section><h3><code>{method.upper()} {html.escape(path)}</code></h3>"
                f"<p>{html.escape(entry['summary'])}</p>"
                + (f"<p>{html.escape(entry['description'])}</p>" if "description" in entry else "")
                + f"<p><b>Auth:</b> {html.escape(auth)}</p>"
                + (
                    f"<p><b>Body:</b> <a href='#{body.rsplit('/', 1)[-1]}'>{body.rsplit('/', 1)[-1]}</a></p>"
                    if body
                    else ""
                )
                + f"<p><b>Responses:</b> {html.escape(responses)}</p></section>"
            )
    models = "".join(
        f"<section id='{html.escape(name)}'><h3>{html.escape(name)}</h3><pre>"
        f"{html.escape(json.dumps(schema, indent=2))}</pre></section>"
        for name, schema in document["components"]["schemas"].items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>bridge API</title><style>"
        "body{font:14px/1.45 system-ui,sans-serif;margin:2rem;max-width:60rem}section{border-top:1px solid "
        "#ddd;padding:.5rem 0}pre{background:#f6f6f6;padding:.75rem;overflow:auto;font-size:12px}</style>"
        "</head><body><h1>bridge API</h1><p>The machine-readable contract is <a href=/openapi.json>"
        f"/openapi.json</a> (OpenAPI 3.1).</p><h2>Routes</h2>{''.join(sections)}<h2>Schemas</h2>{models}"
        "</body></html>"
    )


async def docs_page(request: web.Request) -> web.Response:
    cache = request.app.get(DOCUMENT_CACHE)
    if cache is None:
        return web.Response(text=_docs_page(), content_type="text/html")
    document_for(request.app)
    return web.Response(text=cache["docs"], content_type="text/html")
