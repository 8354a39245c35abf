"""A client's broken bytes are the client's error: bridge answers 4xx and logs it below WARNING.
Found from outside: a JSON body whose `Content-Encoding: gzip` is a lie got its 400, and then
aiohttp's lingering read of the rest of the body logged `ERROR aiohttp.server Unhandled
exception` for every such request (unauthenticated, at will: an ERROR line is what pages people)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.app import create_app

ROUTES = ["/v1/login", "/v1/sessions", "/v1/sessions/refresh", "/acme/login"]


async def raw_answer(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)  # the connection is closed after it
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("body", [b'{"partner": "acme", "token": "x"}', b"\x1f\x8bnot-gzip-at-all"])
async def test_a_body_whose_encoding_lies_is_a_quiet_400(
    aiohttp_server, make_settings, keys, caplog, path, body
):
    settings = make_settings(
        extra_partners={
            "acme": {**keys.partners_document()["partners"]["acme"], "route": {"path": "/acme/login"}}
        }
    )
    server = await aiohttp_server(create_app(settings))
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    with caplog.at_level(logging.INFO):
        # Read to the end: aiohttp closes the connection after its lingering read of the body,
        # so every record about this request is written by then.
        answer = await raw_answer(server.host, server.port, request)

    assert answer.startswith(b"HTTP/1.1 400 ") and b"application/problem+json" in answer
    loud = [
        f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING
    ]
    assert loud == []
