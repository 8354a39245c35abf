"""The API contract: an OpenAPI 3.1 document built from the route declarations (bridge.web.contract),
served at /openapi.json, and a plain HTML reference at /docs (no scripts, no CDN)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from bridge import __version__
from bridge.settings import Settings
from bridge.store.api_keys import KEY_PREFIX, SCOPES
from bridge.web import schemas
from bridge.web.access import ADMIN_COOKIE, API_KEY_HEADER
from bridge.web.bodies import INT64_MAX, INT64_MIN
from bridge.web.contract import PAGE_OR_PROBLEM, REDIRECT, ROUTES, Answer, Route, RouteTable
from bridge.web.pages import render_page

JSON = "application/json"
PROBLEM = "application/problem+json"

routes = RouteTable("health")

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
        "name": Settings.model_fields["session_cookie_name"].default,
        "description": "Set by POST /v1/sessions/cookie (name: BRIDGE_SESSION_COOKIE_NAME)",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": f"{KEY_PREFIX}_<key id>_<secret>",
        "description": f"Backend API key; scopes: {', '.join(sorted(SCOPES))}",
    },
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
    "adminPartnerToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A partner token carrying the partner's admin_claims",
    },
    "adminCookie": {"type": "apiKey", "in": "cookie", "name": ADMIN_COOKIE},
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
# invalid JSON, a body that does not arrive in time, a body over BRIDGE_MAX_BODY_BYTES, a media
# type other than JSON.
BODY_ERRORS = (400, 408, 413, 415)


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


def _response(answer: Answer, schemas_: _Schemas) -> dict[str, Any]:
    if answer == PAGE_OR_PROBLEM:
        return {
            "description": "An HTML page, or problem details (RFC 9457)",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                PROBLEM: {"schema": schemas_.ref(schemas.ProblemDetails)},
            },
        }
    if answer == REDIRECT:
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


@lru_cache(maxsize=16)
def build_document(declared: tuple[Route, ...]) -> dict[str, Any]:
    """The OpenAPI document of these routes (cached: bridge's own routes are the same records in
    every app)."""
    schemas_ = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in declared:
        paths.setdefault(route.documented_path, {})[route.method.lower()] = _operation(route, schemas_)
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


def _operation(route: Route, schemas_: _Schemas) -> dict[str, Any]:
    path = route.documented_path
    entry: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "operationId": f"{route.method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}",
        "responses": _responses(route, schemas_),
    }
    if route.description:
        entry["description"] = route.description
    if parameters := _parameters(path, route.query):
        entry["parameters"] = parameters
    if route.body is not None:
        entry["requestBody"] = {"required": True, "content": {JSON: {"schema": schemas_.ref(route.body)}}}
    if route.form is not None:
        form_schema = schemas_.ref(route.form)
        entry["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": form_schema}},
        }
    if (security := _security(route.auth)) is not None:
        entry["security"] = security
    return entry


def _responses(route: Route, schemas_: _Schemas) -> dict[str, Any]:
    problem = schemas_.ref(schemas.ProblemDetails)
    responses: dict[str, Any] = {
        str(code): _response(answer, schemas_) for code, answer in route.responses.items()
    }
    extra_errors = BODY_ERRORS if route.body is not None else ()
    for code in sorted({*route.errors, *extra_errors}):
        responses.setdefault(
            str(code),
            {"description": "Problem details (RFC 9457)", "content": {PROBLEM: {"schema": problem}}},
        )
    return responses


def document_for(app: web.Application) -> dict[str, Any]:
    """The document of this app's routes (bridge's own and its partners' routes)."""
    return build_document(app[ROUTES])


@routes.get("/openapi.json", summary="This document", name="openapi", responses={200: JSON})
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document_for(request.app))


@dataclass(frozen=True)
class DocsEntry:
    """One route as the /docs page lists it."""

    method: str
    path: str
    summary: str
    description: str
    auth: str
    body: str
    responses: str


def _docs_entries(document: dict[str, Any]) -> list[DocsEntry]:
    return [
        DocsEntry(
            method.upper(),
            path,
            entry["summary"],
            entry.get("description", ""),
            _auth_text(entry.get("security", [])),
            _body_schema_name(entry),
            ", ".join(entry["responses"]),
        )
        for path, methods in document["paths"].items()
        for method, entry in methods.items()
    ]


def _auth_text(security: list[dict[str, list[str]]]) -> str:
    """`apiKey (admin), apiKeyHeader (admin)`: each scheme, with its scopes."""
    schemes = [
        f"{name} ({', '.join(scopes)})" if scopes else name
        for requirement in security
        for name, scopes in requirement.items()
    ]
    return ", ".join(schemes) or "none"


def _body_schema_name(entry: dict[str, Any]) -> str:
    reference: str = (
        entry.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema", {}).get("$ref", "")
    )
    return reference.rsplit("/", 1)[-1]


@routes.get("/docs", summary="Human-readable API reference", name="docs", responses={200: "text/html"})
async def docs_page(request: web.Request) -> web.Response:
    document = document_for(request.app)
    schemas_ = [
        (name, json.dumps(schema, indent=2)) for name, schema in document["components"]["schemas"].items()
    ]
    return render_page(request, "docs.html", {"entries": _docs_entries(document), "schemas": schemas_})
