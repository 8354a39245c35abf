"""Outgoing HTTP: the app's one aiohttp.ClientSession, with size caps and clear failure types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bridge import __version__

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)
MAX_RESPONSE_BYTES = 1024 * 1024


class UpstreamError(Exception):
    """The remote service could not be reached or answered something unusable."""


class UpstreamTimeout(UpstreamError):
    """The remote service did not answer in time."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    document: Any  # the JSON answer, or None when the answer is not JSON
    headers: Mapping[str, str]


class Outbound:
    """Created with the app; its session is opened and closed by the app's cleanup context."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=DEFAULT_TIMEOUT,
            headers={"User-Agent": f"bridge/{__version__}"},
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("outbound HTTP is used before the app started")
        return self._session

    async def get_json(
        self, url: str, *, timeout_seconds: float, max_bytes: int = MAX_RESPONSE_BYTES
    ) -> tuple[Any, Mapping[str, str]]:
        """GET a JSON document (redirects are not followed); returns (document, headers). Any
        answer but 200 is an UpstreamError."""
        answer = await self.send("GET", url, timeout_seconds=timeout_seconds, max_bytes=max_bytes)
        if answer.status != 200:
            raise UpstreamError(f"GET {_without_query(url)} answered {answer.status}")
        return answer.document, answer.headers

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> Answer:
        """One request with a JSON body, a form body (application/x-www-form-urlencoded) or none;
        redirects are not followed. Raises UpstreamTimeout / UpstreamError when no answer came."""
        where = f"{method} {_without_query(url)}"  # query strings may hold keys: never in messages
        try:
            async with self.session.request(
                method,
                url,
                json=json,
                data=form,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                headers={"Accept": "application/json", **(headers or {})},
            ) as response:
                raw = await _read_capped(response, max_bytes, where)
                return Answer(response.status, _json_or_none(raw), dict(response.headers))
        except TimeoutError:
            raise UpstreamTimeout(f"{where} timed out after {timeout_seconds} s") from None
        except aiohttp.ClientError as error:
            raise UpstreamError(f"{where} failed: {type(error).__name__}") from None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, url: str) -> bytes:
    if response.content_length is not None and response.content_length > max_bytes:
        raise UpstreamError(f"{url} answered more than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamError(f"{url} answered more than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
