"""Request ids and the request-log middleware: one line per request, never a token or secret."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import re
import time
from typing import Any

from aiohttp import web

from bridge.infra.metrics import REQUESTS, route_of
from bridge.web.malformed import take_over_malformed_requests

log = logging.getLogger("bridge.access")

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


_factory_installed = False


def take_over_request_logging() -> None:
    """bridge's middleware is the one request log: aiohttp's own access log (which writes query
    strings, where redirect logins carry tokens) is silenced however the app is run, malformed
    requests are answered and logged without their raw bytes (bridge.web.malformed), and every
    log record created while a request is handled carries its `request_id`."""
    global _factory_installed
    logging.getLogger("aiohttp.access").setLevel(logging.CRITICAL + 1)
    take_over_malformed_requests()
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _request_id.get()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def _request_id_for(request: web.Request) -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    if _VALID_REQUEST_ID.fullmatch(offered):
        return offered
    return os.urandom(16).hex()  # 32 random hex digits, as uuid4().hex but a fifth of the cost


CLIENT_CLOSED_REQUEST = 499


@web.middleware
async def request_log_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    request_id = _request_id_for(request)
    token = _request_id.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response: web.StreamResponse = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as error:
        status = error.status
        error.headers[REQUEST_ID_HEADER] = request_id
        raise
    except asyncio.CancelledError:
        # The client closed the connection before the answer (aiohttp cancels the handler): not a
        # server error. Logged and counted as 499, nginx's "client closed request".
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        elapsed = time.perf_counter() - started
        REQUESTS.labels(request.method, route_of(request), str(status)).observe(elapsed)
        # The path only: query strings may carry tokens (redirect logins) and are never logged.
        log.info(
            "%s %s %d",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        _request_id.reset(token)
