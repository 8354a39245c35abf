"""Slow clients (slowloris) cannot hold connections for ever. Found from outside: a connection that
sent nothing, a few header bytes, or headers and part of a body was still open after 151 s (aiohttp
has no limit before a first request, nor on reading a body). Now a first request's headers must
arrive within bridge.malformed.FIRST_REQUEST_SECONDS and a body within
bridge.api.bodies.BODY_READ_SECONDS (shortened here so the test does not wait)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bridge import malformed
from bridge.api import bodies
from bridge.app import create_app


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
