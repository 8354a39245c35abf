"""Request bodies: parsed as JSON and validated before anything reaches a store."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bridge.problems import bad_request

Body = TypeVar("Body", bound=BaseModel)


async def read_body(request: web.Request, model: type[Body]) -> Body:
    """The body as `model`, or a 400 listing each wrong field. Values are never echoed back."""
    raw = await request.read()
    try:
        data: Any = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(part) for part in e["loc"]) or "(body)", "message": e["msg"]}
            for e in error.errors(include_input=False, include_url=False)
        ]
        raise bad_request("The body has invalid fields.", errors) from None


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The caller's address. `X-Forwarded-For` counts only when the direct peer is a trusted proxy
    (BRIDGE_TRUSTED_PROXIES), and then its right-most address that is not a trusted proxy wins:
    anything further left was written by the client and can be forged."""
    remote = request.remote or "unknown"
    if remote not in trusted_proxies:
        return remote
    forwarded = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if hop not in trusted_proxies:
            return hop
    return remote
