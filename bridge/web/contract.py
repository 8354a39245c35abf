"""One declaration per route: the record that both registers the route and documents it.

Each handler module keeps a `RouteTable` and declares its routes next to their handlers
(`@routes.post("/v1/login", summary=..., body=LoginBody, responses={200: LoginAnswer})`);
bridge.web.routes adds every table to the router and bridge.web.openapi builds /openapi.json from
the same records.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Required, TypedDict, TypeVar, Unpack

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

# An answer that is not a JSON model: a media type ("text/html", "text/plain", "application/json"),
# a redirect, or an HTML page that may also be a problem.
REDIRECT = "redirect"
PAGE_OR_PROBLEM = "text/html or problem"
Answer = type[BaseModel] | str

_PATTERN = re.compile(r"\{(\w+):[^}]*\}")


def documented_path(path: str) -> str:
    """The path as the API document (and aiohttp's `canonical`) spells it: `{ref:.+}` → `{ref}`."""
    return _PATTERN.sub(r"{\1}", path)


@dataclass(frozen=True, eq=False)
class Route:
    """A route and its contract. `path` is the router's path (it may hold a regex per variable)."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    # "none", "user" (ID token or session cookie), "admin", or "key:<scope>" / "key:any"
    auth: str = "none"
    # The router's resource name, for links (`request.app.router[name].url_for(...)`).
    name: str | None = None
    body: type[BaseModel] | None = None
    # a browser form (application/x-www-form-urlencoded) instead of JSON
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # status -> response model, or a media type for non-JSON answers (see Answer)
    responses: Mapping[int, Answer] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""
    # GET routes also answer HEAD unless told not to (a link scanner must not spend a login token).
    allow_head: bool = True

    @property
    def documented_path(self) -> str:
        return documented_path(self.path)


# Every route of an app, bridge's own and its partners', as registered (bridge.web.routes).
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("routes", tuple)


class Contract(TypedDict, total=False):
    """What a declaration says besides method, path and handler (see Route)."""

    summary: Required[str]
    tag: str
    auth: str
    name: str
    body: type[BaseModel]
    form: type[BaseModel]
    query: type[BaseModel]
    responses: Mapping[int, Answer]
    errors: tuple[int, ...]
    description: str
    allow_head: bool


class RouteTable:
    """The routes of one handler module, in declaration order."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._routes: list[Route] = []

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def add(self, method: str, path: str, handler: Handler, **contract: Unpack[Contract]) -> Route:
        route = Route(
            method,
            path,
            handler,
            contract["summary"],
            contract.get("tag", self.tag),
            contract.get("auth", "none"),
            contract.get("name"),
            contract.get("body"),
            contract.get("form"),
            contract.get("query"),
            dict(contract.get("responses", {})),
            contract.get("errors", ()),
            contract.get("description", ""),
            contract.get("allow_head", True),
        )
        self._routes.append(route)
        return route

    def route(self, method: str, path: str, **contract: Unpack[Contract]) -> Callable[[H], H]:
        def declare(handler: H) -> H:
            self.add(method, path, handler, **contract)
            return handler

        return declare

    def get(self, path: str, **contract: Unpack[Contract]) -> Callable[[H], H]:
        return self.route("GET", path, **contract)

    def post(self, path: str, **contract: Unpack[Contract]) -> Callable[[H], H]:
        return self.route("POST", path, **contract)

    def put(self, path: str, **contract: Unpack[Contract]) -> Callable[[H], H]:
        return self.route("PUT", path, **contract)

    def delete(self, path: str, **contract: Unpack[Contract]) -> Callable[[H], H]:
        return self.route("DELETE", path, **contract)
