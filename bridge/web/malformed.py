"""Requests aiohttp cannot parse (a control byte in the request line, a bad header, …) never reach
bridge's middlewares: aiohttp answers them itself and logs them on `aiohttp.server` with the raw
request bytes (query string and header values included, where tokens travel). bridge takes both
over: the answer is a short problem+json that echoes nothing the client sent, the log line names
the parser's error type only, and no `aiohttp.server` record carries an exception text."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.web_protocol import RequestPayloadError

log = logging.getLogger("bridge.access")

_installed = False


class _NoRawBytes(logging.Filter):
    """Strips exception details (they quote raw request bytes) from every `aiohttp.server` record;
    the record keeps its message and gains the exception's type name. A body the client broke
    (`Content-Encoding: gzip` over bytes that are not gzip) was already answered 400; aiohttp's
    lingering read of its rest fails again and logs "Unhandled exception": that is the client's
    error, logged at INFO, not an ERROR anyone should be paged for."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            error = record.exc_info[1]
            record.error = type(error).__name__ if error is not None else None
            if isinstance(error, RequestPayloadError) and record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
                record.msg, record.args = "request body could not be decoded; connection closed", ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


def _handle_error(
    self: web_protocol.RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """Replaces RequestHandler.handle_error: same status and connection handling, nothing echoed."""
    log.info(
        "malformed request refused",
        extra={"status": status, "error": type(exc).__name__ if exc is not None else None},
    )
    if request.writer.output_size > 0:
        raise ConnectionError("Response is sent already, cannot send another response")
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {
        "type": "/problems/bad-request" if status == 400 else f"/problems/{phrase.lower().replace(' ', '-')}",
        "title": "Malformed request" if status == 400 else phrase,
        "status": status,
        "detail": "The request is not valid HTTP."
        if 400 <= status < 500
        else "Something went wrong on our side.",
    }
    response = web.Response(status=status, text=json.dumps(body), content_type="application/problem+json")
    response.force_close()
    return response


# A new connection sends its first request's headers within this many seconds, or is closed.
# aiohttp has no such limit (its keep-alive timer starts only after a first answer), so a client
# could open connections and send nothing, or a few header bytes, and hold them for ever.
FIRST_REQUEST_SECONDS = 20.0
_connection_made = web_protocol.RequestHandler.connection_made
_connection_lost = web_protocol.RequestHandler.connection_lost
_deadlines: dict[web_protocol.RequestHandler, asyncio.TimerHandle] = {}


def _connection_made_with_deadline(self: web_protocol.RequestHandler, transport: Any) -> None:
    _connection_made(self, transport)
    _deadlines[self] = self._loop.call_later(FIRST_REQUEST_SECONDS, _close_if_no_request, self)


def _connection_lost_with_deadline(self: web_protocol.RequestHandler, exc: BaseException | None) -> None:
    deadline = _deadlines.pop(self, None)
    if deadline is not None:
        deadline.cancel()
    _connection_lost(self, exc)


def _close_if_no_request(handler: web_protocol.RequestHandler) -> None:
    _deadlines.pop(handler, None)
    # aiohttp counts a request once its headers are parsed (RequestHandler._request_count).
    if handler.transport is not None and handler._request_count == 0:
        log.info("connection closed: no request in time", extra={"seconds": FIRST_REQUEST_SECONDS})
        handler.force_close()


def take_over_malformed_requests() -> None:
    """Install the answer, the log filter and the first-request deadline (once per process;
    idempotent)."""
    global _installed
    if _installed:
        return
    web_protocol.RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]
    web_protocol.RequestHandler.connection_made = _connection_made_with_deadline  # type: ignore[method-assign]
    web_protocol.RequestHandler.connection_lost = _connection_lost_with_deadline  # type: ignore[method-assign]
    logging.getLogger("aiohttp.server").addFilter(_NoRawBytes())
    _installed = True
