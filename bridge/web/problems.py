"""Problem details (RFC 9457): the one error shape bridge answers with, and the middleware."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WriteConcernError

from bridge.web.request_log import current_request_id

log = logging.getLogger("bridge.errors")

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


def _from_http_exception(error: web.HTTPException) -> Problem:
    kept = {
        name: value for name, value in error.headers.items() if name in ("Allow", "Retry-After", "Location")
    }
    slug = error.reason.lower().replace(" ", "-")
    return Problem(
        error.status,
        slug,
        error.reason,
        error.text if error.text and not error.text.startswith(f"{error.status}:") else None,
        headers=kept,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Problem as problem:
        return problem_response(problem, request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(_from_http_exception(error), request)
    except PyMongoError as error:
        if not mongodb_unavailable(error):
            log.exception("unhandled error")
            return problem_response(_internal_error(), request)
        log.warning("mongodb unavailable: %s", type(error).__name__)
        return problem_response(dependency_unavailable("The user store"), request)
    except Exception:
        log.exception("unhandled error")
        return problem_response(_internal_error(), request)


def mongodb_unavailable(error: PyMongoError) -> bool:
    """MongoDB is down, electing a primary, or did not confirm a write in time: the caller may retry
    (503). Server selection and network errors, a write concern not satisfied in time (a majority
    unreachable during a failover), and operations past their time limit."""
    return isinstance(error, ConnectionFailure | WriteConcernError | ExecutionTimeout) or error.timeout


def _internal_error() -> Problem:
    return Problem(
        500,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; the request id identifies it in our logs.",
    )
