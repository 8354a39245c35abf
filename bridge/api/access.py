"""Route-level access checks: a route declares the API-key scope it needs."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.api.bodies import bearer_token
from bridge.api_keys import SCOPES, ApiKey
from bridge.components import API_KEYS
from bridge.problems import Problem

API_KEY = web.RequestKey("api_key", ApiKey)
API_KEY_HEADER = "X-Api-Key"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="bridge"'}
    )


async def authenticate_api_key(request: web.Request) -> ApiKey:
    presented = request.headers.get(API_KEY_HEADER) or bearer_token(request)
    if not presented:
        raise _unauthorized(f"An API key is required (Authorization: Bearer or {API_KEY_HEADER}).")
    key = await request.app[API_KEYS].authenticate(presented)
    if key is None:
        raise _unauthorized("The API key is not valid or has been revoked.")
    return key


def requires_scope(scope: str | None) -> Callable[[Handler], Handler]:
    """Only callers with a live API key holding `scope` (any live key when None) reach the handler;
    the key is in `request[API_KEY]`."""
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            key = await authenticate_api_key(request)
            if scope is not None and scope not in key.scopes:
                raise Problem(403, "forbidden", "Forbidden", f"This API key lacks the {scope!r} scope.")
            request[API_KEY] = key
            return await handler(request)

        checked.required_scope = scope  # type: ignore[attr-defined]
        return checked

    return decorate
