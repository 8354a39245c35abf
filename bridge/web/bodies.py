"""Request bodies: parsed as JSON and validated before anything reaches a store.

`read_body` is the one way a JSON route reads its body, so every JSON route gets the same rules:
only `application/json` or `*/*+json` (415 otherwise, so a cross-site `text/plain` form post never
reaches a handler), UTF-8 only, I-JSON (RFC 7493): duplicate object keys, lone surrogates, numbers
written with more than `MAX_NUMBER_CHARS` characters or beyond a double are 400, and so are nesting
deeper than `MAX_JSON_DEPTH` and an object key with a NUL character (MongoDB cannot store it).
Integral numbers written with a fraction or exponent (`3600.0`, `1e3`) are integers, as JSON Schema
counts them; integers beyond 64 bits are doubles.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from bridge.web.problems import Problem, bad_request, invalid_fields

Body = TypeVar("Body", bound=BaseModel)

MAX_JSON_DEPTH = 32
# A body (at most BRIDGE_MAX_BODY_BYTES) arrives whole within this many seconds, or 408: a client
# that sends a few bytes and stalls (slowloris) holds a connection and a handler for no longer.
BODY_READ_SECONDS = 30.0
MAX_NUMBER_CHARS = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_JSON_MEDIA_TYPE = re.compile(r"application/json|[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+\+json")
# Browser forms bridge takes (the admin sign-in): urlencoded only, as a form without a file input
# is sent; multipart is refused before aiohttp's multipart parser sees it.
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


class _Refused(Exception):
    """The body breaks one of the JSON rules; the message says which (never a value)."""


def unsupported_media_type(accepted: str) -> Problem:
    return Problem(
        415,
        "unsupported-media-type",
        "Unsupported media type",
        f"This route accepts {accepted} only.",
    )


def _check_json_media_type(request: web.Request) -> None:
    if not _JSON_MEDIA_TYPE.fullmatch(request.content_type.lower()):
        raise unsupported_media_type("application/json (or a */*+json type)")
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise unsupported_media_type("UTF-8 JSON")


def _integer(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused("A number is too long.")
    value = int(text)
    # Beyond 64 bits an integer is kept as a double, as I-JSON receivers do (and MongoDB has no
    # larger integer); integer fields refuse it.
    return value if INT64_MIN <= value <= INT64_MAX else float(value)


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused("A number is too long.")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("A number is out of range (beyond a double).")
    if value.is_integer() and INT64_MIN <= value < 2.0**63:
        return int(value)  # 3600.0 and 1e3 are integers, as JSON Schema counts them
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON.")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused("An object has a duplicate key.")
    return result


def _check_structure(data: Any) -> None:
    """Depth and strings, without recursion (the structure may be nested ~1000 deep)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _Refused(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    if "\x00" in key:  # MongoDB cannot store such a key
                        raise _Refused("An object key holds a NUL character.")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("A string holds an unpaired surrogate (\\ud800-\\udfff).") from None


def parse_json(raw: bytes) -> Any:
    """The JSON value in `raw` under the rules above, or a 400 saying which rule it breaks."""
    try:
        data = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_number,
            parse_constant=_constant,
        )
        _check_structure(data)
    except _Refused as refused:
        raise bad_request(str(refused)) from None
    except RecursionError:
        raise bad_request(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON (UTF-8).") from None
    return data


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (None when empty), after the media-type and I-JSON checks."""
    _check_json_media_type(request)
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            raw = await request.read()
    except RequestPayloadError:  # e.g. `Content-Encoding: gzip` over bytes that are not gzip
        raise bad_request("The body cannot be decoded (Content-Encoding).") from None
    except TimeoutError:
        raise body_too_slow() from None
    except ConnectionResetError:  # the client hung up mid-body: its error, not a 500
        raise client_left() from None
    return parse_json(raw) if raw else None


def client_left() -> Problem:
    return bad_request("The connection closed before the body arrived.")


def body_too_slow() -> Problem:
    return Problem(
        408,
        "request-timeout",
        "Request timeout",
        f"The body did not arrive within {BODY_READ_SECONDS:g} seconds.",
    )


async def read_body(request: web.Request, model: type[Body]) -> Body:
    """The body as `model`, or a 400 listing each wrong field. Values are never echoed back."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise bad_request("The body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_fields("The body has invalid fields.", error, whole="(body)") from None


async def read_form(request: web.Request) -> dict[str, str]:
    """A browser form's fields (application/x-www-form-urlencoded); 415 for other media types (a
    multipart body, with or without a boundary), 400 for a form that cannot be parsed. Field
    values are never echoed."""
    if request.content_type.lower() != FORM_MEDIA_TYPE:
        raise unsupported_media_type(f"a form ({FORM_MEDIA_TYPE})")
    try:
        async with asyncio.timeout(BODY_READ_SECONDS):
            form = await request.post()
    except TimeoutError:
        raise body_too_slow() from None
    except ConnectionResetError:
        raise client_left() from None
    except web.HTTPException:
        raise
    except Exception:  # aiohttp raises assorted errors (ValueError, UnicodeDecodeError) on a bad form
        raise bad_request("The form cannot be parsed.") from None
    return {name: value for name, value in form.items() if isinstance(value, str)}


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The caller's address. `X-Forwarded-For` counts only when the direct peer is a trusted proxy
    (BRIDGE_TRUSTED_PROXIES), and then its right-most address that is not a trusted proxy wins:
    anything further left was written by the client and can be forged."""
    remote = request.remote or "unknown"
    if remote not in trusted_proxies:
        return remote
    # Repeated header lines are one list, in order (RFC 9110 §5.3): a proxy may add its own line
    # (HAProxy's `option forwardfor`) after the one the client wrote.
    lines = request.headers.getall("X-Forwarded-For", [])
    forwarded = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if hop not in trusted_proxies:
            return hop
    return remote
