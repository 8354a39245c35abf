"""Outgoing HTTP: the app's one aiohttp.ClientSession, with size caps and clear failure types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from bridge import __version__

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)
MAX_RESPONSE_BYTES = 1024 * 1024


class UpstreamError(Exception):
    """The remote service could not be reached or answered something unusable."""


class UpstreamTimeout(UpstreamError):
    """The remote service did not answer in time."""


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
        """GET a JSON document (redirects are not followed); returns (document, headers)."""
        status, document, headers = await self._request("GET", url, None, timeout_seconds, max_bytes)
        if status != 200:
            raise UpstreamError(f"GET {_without_query(url)} answered {status}")
        return document, headers

    async def post_json(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        timeout_seconds: float,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> tuple[int, Any]:
        """POST JSON; returns (status, JSON answer or None when the answer is not JSON)."""
        status, document, _ = await self._request("POST", url, body, timeout_seconds, max_bytes)
        return status, document

    async def request_json(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str],
        timeout_seconds: float,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Any JSON request with extra headers; returns (status, JSON answer or None, headers)."""
        return await self._request(method, url, body, timeout_seconds, max_bytes, headers=headers)

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        timeout_seconds: float,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> tuple[int, Any]:
        """POST application/x-www-form-urlencoded; returns (status, JSON answer or None)."""
        status, document, _ = await self._request("POST", url, form, timeout_seconds, max_bytes, form=True)
        return status, document

    async def _request(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        timeout_seconds: float,
        max_bytes: int,
        form: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        where = f"{method} {_without_query(url)}"  # query strings may hold keys: never in messages
        try:
            async with self.session.request(
                method,
                url,
                json=None if form else body,
                data=body if form else None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                headers={"Accept": "application/json", **(headers or {})},
            ) as response:
                raw = await _read_capped(response, max_bytes, where)
                return response.status, _json_or_none(raw), dict(response.headers)
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
