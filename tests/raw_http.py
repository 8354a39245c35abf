"""Bytes on a socket: requests no HTTP client library would send, and the raw answer."""

from __future__ import annotations

import asyncio


async def raw_request(host: str, port: int, data: bytes) -> bytes:
    """Sends `data` as is and returns up to 64 KiB of the answer."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(65536), timeout=10)
    writer.close()
    await writer.wait_closed()
    return answer
