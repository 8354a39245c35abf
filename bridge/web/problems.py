"""Problem details (RFC 9457): the one error shape bridge answers with (the middleware that answers
every failure with one is in bridge.web.failures)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bridge.web.request_log import current_request_id

PROBLEM_CONTENT_TYPE = "application/problem+json"
DEPENDENCY_RETRY_AFTER_SECONDS = 5


class Problem(Exception):
    """An error answered to the client as problem+json. `detail` must never hold a secret."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def bad_request(detail: str, errors: list[dict[str, str]] | None = None) -> Problem:
    return Problem(
        400, "bad-request", "Malformed request", detail, extra={"errors": errors} if errors else None
    )


def invalid_fields(detail: str, error: ValidationError, whole: str = "") -> Problem:
    """A 400 listing each wrong field (`whole` names an error of no one field). Values are never
    echoed back."""
    errors = [
        {"field": ".".join(str(part) for part in e["loc"]) or whole, "message": e["msg"]}
        for e in error.errors(include_input=False, include_url=False)
    ]
    return bad_request(detail, errors)


def invalid_credential() -> Problem:
    # One message for every reason, so the answer tells an attacker nothing; the log has the reason.
    return Problem(
        401,
        "invalid-credential",
        "Invalid credential",
        "The credential was not accepted.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def unknown_partner(partner: str) -> Problem:
    return Problem(400, "unknown-partner", "Unknown partner", f"No partner named {partner!r} is configured.")


def dependency_unavailable(dependency: str) -> Problem:
    return Problem(
        503,
        "dependency-unavailable",
        "Service unavailable",
        f"{dependency} is not reachable; try again shortly.",
        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER_SECONDS)},
    )


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    body: dict[str, Any] = {
        "type": f"/problems/{problem.slug}",
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    body["instance"] = request.path
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(problem.extra)
    return web.Response(
        status=problem.status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )
