"""Slow clients (slowloris) cannot hold connections for ever. Found from outside: a connection that
sent nothing, a few header bytes, or headers and part of a body was still open after 151 s (aiohttp
has no limit before a first request, nor on reading a body). Now a first request's headers must
arrive within bridge.web.malformed.FIRST_REQUEST_SECONDS and a body within
bridge.web.bodies.BODY_READ_SECONDS (shortened here so the test does not wait)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from bridge.app import create_app
from bridge.web import bodies, malformed


@pytest.fixture
async def server(aiohttp_server, make_settings, keys, monkeypatch):
    monkeypatch.setattr(malformed, "FIRST_REQUEST_SECONDS", 0.3)
    monkeypatch.setattr(bodies, "BODY_READ_SECONDS", 0.3)
    acme = {**keys.partners_document()["partners"]["acme"], "route": {"path": "/acme/login"}}
    return await aiohttp_server(create_app(make_settings(extra_partners={"acme": acme})))


async def answer_to(server, sent: bytes) -> bytes:
    """Everything bridge sends before it closes the connection (bounded: a hang fails the test)."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(sent)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=15)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /v1/login HTTP/1.1\r\nHost: x\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a"],
    ids=["nothing", "half the headers", "a header cut short"],
)
async def test_a_connection_without_a_whole_request_is_closed(server, sent):
    assert await answer_to(server, sent) == b""


@pytest.mark.parametrize("path", ["/v1/login", "/acme/login", "/v1/sessions/refresh"])
@pytest.mark.parametrize("framing", ["Content-Length: 1000", "Transfer-Encoding: chunked"])
async def test_a_body_that_stalls_is_408(server, path, framing):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    part = b'{"partner":' if framing.startswith("Content-Length") else b'b\r\n{"partner":\r\n'
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head.encode() + part)
    try:
        headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=15)
        length = int(headers.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
        body = await asyncio.wait_for(reader.readexactly(length), timeout=15)
    finally:
        writer.close()
    assert headers.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert json.loads(body)["type"] == "/problems/request-timeout"


async def test_whole_requests_are_answered_as_before(server, keys):
    body = json.dumps({"partner": "acme", "token": keys.token("acme", sub="ann")}).encode()
    sent = (
        f"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    assert (await answer_to(server, sent)).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("path", ["/v1/login", "/acme/login", "/admin/login"])
@pytest.mark.parametrize(("cancelled", "status"), [(False, 400), (True, 499)])
async def test_a_client_hanging_up_mid_body_is_not_a_server_error(
    make_settings, keys, monkeypatch, caplog, path, cancelled, status
):
    """Found from outside: a client that sent part of a body and closed the connection got a 500
    and an ERROR traceback (ConnectionResetError), at will and unauthenticated. `bridge serve`
    reads on and sees the reset (400); with aiohttp's handler cancellation on, the handler is
    cancelled instead (499, nginx's "client closed request")."""
    monkeypatch.setattr(bodies, "BODY_READ_SECONDS", 15)
    acme = {**keys.partners_document()["partners"]["acme"], "route": {"path": "/acme/login"}}
    app = create_app(make_settings(extra_partners={"acme": acme}))
    runner = web.AppRunner(app, handler_cancellation=cancelled)  # as `bridge serve` runs it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    media = "application/x-www-form-urlencoded" if path.startswith("/admin") else "application/json"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {media}\r\nContent-Length: 1000\r\n\r\n"
    with caplog.at_level(logging.INFO):
        _, writer = await asyncio.open_connection(host, port)
        writer.write(head.encode() + b'{"partner":')
        await writer.drain()
        writer.close()
        await writer.wait_closed()

        async def access_line() -> logging.LogRecord:
            while True:
                for record in caplog.records:
                    if record.name == "bridge.access" and path in record.getMessage():
                        return record
                await asyncio.sleep(0.01)

        try:
            logged = await asyncio.wait_for(access_line(), timeout=15)
        finally:
            await runner.cleanup()

    assert logged.status == status
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
