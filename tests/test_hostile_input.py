"""No unauthenticated 500s: hostile bodies, forms and tokens sent over HTTP to the real stack (mongod,
Auth emulator) answer a 4xx problem+json and write nothing. One class per test: every JSON route
gets every malformed body; every JWT-reading route gets every malformed token."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import aiohttp
import pytest
from contract import contract_of
from every_credential import credentials, serve_bridge, signed_in
from firebase_admin import auth
from raw_http import raw_request

from bridge.web.bodies import MAX_JSON_DEPTH
from bridge.web.routes import openapi_document

PROBLEM = "application/problem+json"


def json_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation whose body is JSON, from the served contract."""
    return sorted(
        (method.upper(), path)
        for path, methods in openapi_document()["paths"].items()
        for method, entry in methods.items()
        if "application/json" in entry.get("requestBody", {}).get("content", {})
    )


def concrete(path: str, uid: str) -> str:
    return path.replace("{ref}", uid).replace("{id}", "x")


DEEP = "[" * 5000 + "]" * 5000
# Bodies declared JSON that are not JSON bridge reads: 400.
MALFORMED_JSON: dict[str, bytes] = {
    "5,000 nested arrays": DEEP.encode(),
    "5,000 nested objects": ('{"a":' * 5000 + "1" + "}" * 5000).encode(),
    "one level past the limit": ('{"a":' * MAX_JSON_DEPTH + "[]" + "}" * MAX_JSON_DEPTH).encode(),
    "a 5,000-digit integer": b'{"partner": ' + b"9" * 5000 + b"}",
    "a 5,000-digit fraction": b'{"partner": 0.' + b"1" * 5000 + b"}",
    "a number beyond a double": b'{"partner": 1e400}',
    "NaN": b'{"partner": NaN}',
    "-Infinity": b'{"partner": -Infinity}',
    "a duplicate key": b'{"partner": "acme", "partner": "acme"}',
    "a lone surrogate": b'{"partner": "\\ud800"}',
    "a NUL in a key": b'{"a\\u0000b": 1}',
    "UTF-16": '{"partner": "acme"}'.encode("utf-16"),
    "invalid UTF-8": b'{"partner": "\xff\xfe"}',
    "not JSON": b"{partner: acme",
    "a JSON array": b"[]",
}
# Bodies in a media type other than JSON (UTF-8): 415.
NOT_JSON_MEDIA: dict[str, tuple[bytes, str]] = {
    "text/plain (a cross-site form post)": (b'{"partner": "acme"}', "text/plain"),
    "a form": (b"partner=acme", "application/x-www-form-urlencoded"),
    "multipart without a boundary": (b"--x\r\n", "multipart/form-data"),
    "no content type": (b'{"partner": "acme"}', ""),
    "JSON in Latin-1": (b'{"partner": "acme"}', "application/json; charset=latin-1"),
}
# (name, raw body, content type, expected status)
HOSTILE_BODIES: list[tuple[str, bytes, str, int]] = [
    *((name, body, "application/json", 400) for name, body in MALFORMED_JSON.items()),
    *((name, body, content_type, 415) for name, (body, content_type) in NOT_JSON_MEDIA.items()),
]


# The one write a refused credential makes is the per-address invalid-credential counter (the
# guessing throttle, README "Guessing is bounded"): every other collection stays as it was.
THROTTLE_COUNTERS = "login_attempts"


async def collection_counts(db: Any) -> dict[str, int]:
    names = await db.list_collection_names()
    return {name: await db[name].count_documents({}) for name in names if name != THROTTLE_COUNTERS}


@pytest.fixture
async def stack(make_settings, partner_server, keys, db, fcm):
    server = await serve_bridge(
        make_settings, partner_server, fcm_url=fcm.base_url, fcm_token_url=f"{fcm.base_url}/token"
    )
    session = aiohttp.ClientSession()
    base = str(server.make_url("")).rstrip("/")
    creds = await credentials(session, base, db, keys, partner_server)
    yield session, base, creds
    await session.close()
    await server.close()


async def test_every_json_route_refuses_every_hostile_body_with_a_4xx_and_writes_nothing(stack, db):
    session, base, creds = stack
    operations = json_operations()
    assert len(operations) >= 12  # login, sessions, devices, accounts, tokens, notifications, claims
    # Both credentials at once: key routes read X-Api-Key first, user routes the bearer ID token.
    headers = {"X-Api-Key": creds.api_key, "Authorization": f"Bearer {creds.id_token}"}
    before = await collection_counts(db)
    async with session.get(f"{base}/openapi.json") as served:
        contract = contract_of(await served.text())
    answers, off_contract = [], []
    for method, path in operations:
        for name, body, content_type, expected in HOSTILE_BODIES:
            sent = {**headers, "Content-Type": content_type} if content_type else headers
            async with session.request(
                method,
                base + concrete(path, creds.uid),
                data=body,
                headers=sent,
                skip_auto_headers=["Content-Type"],
            ) as response:
                answers.append((method, path, name, response.status, response.content_type, expected))
                off_contract += await contract.violations_of(response)
    wrong = [a for a in answers if (a[3], a[4]) != (a[5], PROBLEM)]
    assert wrong == []
    assert off_contract == [], "\n".join(off_contract)
    assert len(answers) == len(operations) * len(HOSTILE_BODIES)
    assert await collection_counts(db) == before


async def test_bodies_valid_by_the_contract_are_accepted(stack, db):
    """Integral numbers written with a fraction, and optional fields sent as null."""
    session, base, creds = stack
    async with session.post(
        f"{base}/v1/sessions/cookie", json={"id_token": creds.id_token, "expires_in": 254038.0}
    ) as response:
        assert response.status == 200, await response.text()
        assert response.cookies["__session"]["max-age"] == "254038"
    async with session.post(
        f"{base}/v1/accounts",
        headers={"X-Api-Key": creds.api_key},
        json={
            "partner": "acme",
            "external_id": "nulls",
            "email": None,
            "display_name": None,
            "phone": None,
            "claims": None,
        },
    ) as response:
        assert response.status == 201, await response.text()
    async with session.post(
        f"{base}/v1/custom-tokens",
        headers={"X-Api-Key": creds.api_key},
        json={"uid": "acme:nulls", "partner": None, "external_id": None},
    ) as response:
        assert response.status == 200, await response.text()
    async with session.post(
        f"{base}/v1/notifications",
        headers={"X-Api-Key": creds.api_key},
        json={
            "recipients": ["acme:nulls"],
            "audience": None,
            "data": {"k": "v"},
            "ttl": 60.0,
            "notification": None,
            "android": None,
            "priority": None,
        },
    ) as response:
        assert response.status == 202, await response.text()


async def test_admin_sign_in_refuses_multipart_and_other_non_forms_without_a_500(stack):
    session, base, creds = stack
    cases = [
        ("multipart/form-data", b"credential=x", 415),  # no boundary
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            415,
        ),
        ("application/json", b'{"credential": "x"}', 415),
        ("application/x-www-form-urlencoded", b"credential=", 400),
        ("application/x-www-form-urlencoded", b"other=1", 400),
    ]
    for content_type, body, expected in cases:
        async with session.post(
            f"{base}/admin/login", data=body, headers={"Content-Type": content_type}
        ) as response:
            assert (response.status, response.content_type) == (expected, PROBLEM), content_type
            assert "set-cookie" not in response.headers
    async with session.post(
        f"{base}/admin/login", data={"credential": creds.api_key}, allow_redirects=False
    ) as response:
        assert response.status == 303  # a real form still signs in


async def test_session_cookie_for_a_user_deleted_from_firebase_is_401(stack, keys, firebase_admin_app, db):
    session, base, _ = stack
    login, _ = await signed_in(session, base, keys.token(sub="gone"))
    await asyncio.to_thread(auth.delete_user, login["user"]["uid"], app=firebase_admin_app)
    before = await collection_counts(db)
    async with session.post(
        f"{base}/v1/sessions/cookie", json={"id_token": login["id_token"], "expires_in": 3600}
    ) as response:
        assert (response.status, response.content_type) == (401, PROBLEM)
        assert "set-cookie" not in response.headers
    assert await collection_counts(db) == before


def time_claim_tokens(keys: Any) -> list[tuple[str, str]]:
    now = int(time.time())
    jti = {"iss": "https://once.test", "jti": uuid.uuid4().hex}
    return [
        ("single-use, exp = 10**12", keys.token(**jti, sub="far", exp=10**12)),
        ("single-use, exp = 10**30", keys.token(iss="https://once.test", jti=uuid.uuid4().hex, exp=10**30)),
        ("exp as a numeric string", keys.token(sub="s1", exp=str(now + 300))),
        ("exp as true", keys.token(sub="s2", exp=True)),
        ("exp as a float string", keys.token(sub="s3", exp=f"{now + 300}.0")),
        ("nbf as a numeric string", keys.token(sub="s4", nbf=str(now - 10))),
        ("iat as a numeric string", keys.token(sub="s5", iat=str(now))),
        ("iat negative", keys.token(sub="s6", iat=-1)),
        ("exp as a list", keys.token(sub="s7", exp=[now + 300])),
    ]


def deep_header_token() -> str:
    """A JWT whose header opens 3,000 arrays (RecursionError in every JSON parser's way), short
    enough for one HTTP header line."""
    header = base64.urlsafe_b64encode(b"[" * 3000).rstrip(b"=").decode()
    return f"{header}.e30.c2ln"


async def test_tokens_with_hostile_claims_or_headers_are_refused_and_write_nothing(stack, keys, db):
    session, base, _ = stack
    before = await collection_counts(db)
    answers = []
    for name, token in time_claim_tokens(keys):
        partner = "once" if name.startswith("single-use") else "acme"
        async with session.post(f"{base}/v1/login", json={"partner": partner, "token": token}) as response:
            answers.append((name, response.status, response.content_type))
    deep = deep_header_token()
    for method, path, kwargs in [
        ("POST", "/v1/login", {"json": {"partner": "acme", "token": deep}}),
        ("POST", "/v1/login", {"json": {"partner": "sso", "token": deep}}),
        ("GET", "/v1/me", {"headers": {"Authorization": f"Bearer {deep}"}}),
        ("GET", "/v1/me", {"headers": {"Cookie": f"__session={deep}"}}),
        ("POST", "/v1/sessions", {"json": {"custom_token": deep}}),
        ("POST", "/v1/sessions/cookie", {"json": {"id_token": deep, "expires_in": 600}}),
        ("GET", "/admin/v1/users", {"headers": {"Authorization": f"Bearer {deep}"}}),
    ]:
        async with session.request(method, base + path, **kwargs) as response:
            answers.append((f"deep header {method} {path}", response.status, response.content_type))
    assert [a for a in answers if a[1] != 401 or a[2] != PROBLEM] == []
    assert await collection_counts(db) == before
    # The same single-use partner still logs in with a sane exp, once.
    token = keys.token(iss="https://once.test", sub="sane", jti=uuid.uuid4().hex)
    for expected in (200, 401):
        async with session.post(f"{base}/v1/login", json={"partner": "once", "token": token}) as response:
            assert response.status == expected


async def test_query_date_times_are_rfc_3339_only(stack):
    session, base, creds = stack
    headers = {"X-Api-Key": creds.api_key}
    for value, expected in [
        ("0.5", 400),
        ("1700000000", 400),
        ("2026-11-01", 400),
        ("2026-11-01T00:00:00", 400),  # no time zone
        ("2026-11-01T00:00:00Z", 200),
        ("2026-11-01T00:00:00.123+02:00", 200),
    ]:
        for path, name in (("/admin/v1/audit", "since"), ("/admin/v1/users", "created_from")):
            async with session.get(f"{base}{path}", params={name: value}, headers=headers) as response:
                assert response.status == expected, (path, value)


async def test_cursors_this_api_did_not_make_are_400(stack):
    session, base, creds = stack
    for path in ("/admin", "/admin/v1/users"):
        for cursor in ("_w", "__8", "gICA"):  # not UTF-8 once decoded
            async with session.get(
                f"{base}{path}", params={"cursor": cursor}, headers={"X-Api-Key": creds.api_key}
            ) as response:
                assert (response.status, response.content_type) == (400, PROBLEM), (path, cursor)


async def test_405_names_only_the_methods_of_the_route_the_path_names(stack):
    session, base, creds = stack
    document = openapi_document()
    for path in (
        "/admin/v1/users/{ref}/claims",
        "/admin/v1/users/{ref}/disable",
        "/admin/v1/users/{ref}",
        "/admin/users/{ref}",
        "/admin/users/{ref}/{action}",
    ):
        url = base + path.replace("{ref}", "acme:x").replace("{action}", "revoke")
        async with session.request("PATCH", url, headers={"X-Api-Key": creds.api_key}) as response:
            assert (response.status, response.content_type) == (405, PROBLEM)
            allowed = {m.strip() for m in response.headers["Allow"].split(",")} - {"HEAD"}  # GET's
            assert allowed == {m.upper() for m in document["paths"][path]}, path
    # A reference that ends like an action is still that route's (claims only takes PUT).
    async with session.get(f"{base}/admin/v1/users/acme:x/claims", headers={"X-Api-Key": creds.api_key}) as r:
        assert r.status == 405 and r.headers["Allow"] == "PUT"


def test_the_contract_states_the_rules_fuzzing_relies_on():
    document = openapi_document()
    action = next(
        p
        for p in document["paths"]["/admin/users/{ref}/{action}"]["post"]["parameters"]
        if p["name"] == "action"
    )
    assert action["schema"]["enum"] == ["disable", "enable", "revoke", "delete"]
    page_404 = document["paths"]["/admin/users/{ref}"]["get"]["responses"]["404"]["content"]
    assert set(page_404) == {"text/html", PROBLEM}
    for path, methods in document["paths"].items():
        for method, entry in methods.items():
            if "application/json" in entry.get("requestBody", {}).get("content", {}):
                assert {"400", "413", "415"} <= set(entry["responses"]), (method, path)
    cookie = document["components"]["schemas"]["CookieBody"]["properties"]["expires_in"]
    assert cookie["type"] == "integer"
    assert json.dumps(document)  # serialisable as served


async def raw_status(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    answer = await raw_request(host, port, request)
    return int(answer.split(b" ", 2)[1]), answer


async def test_raw_bytes_an_http_client_would_not_send_are_4xx(make_settings, partner_server, fcm, db):
    """Non-UTF-8 bytes in credential headers (aiohttp keeps them as surrogates) and a body whose
    Content-Encoding lies: each route that reads them answers 4xx problem+json."""
    server = await serve_bridge(
        make_settings, partner_server, fcm_url=fcm.base_url, fcm_token_url=f"{fcm.base_url}/token"
    )
    before = await collection_counts(db)
    cases = [
        ("GET /v1/me", "Authorization: Bearer \xff\xfe.x.y", b"", 401),
        ("GET /v1/me", "Cookie: __session=\xff\xfe", b"", 401),
        ("GET /v1/me/devices", "Authorization: Bearer eyJ\xe9", b"", 401),
        ("GET /admin/v1/users", "Authorization: Bearer \xff.\xfe.x", b"", 401),
        ("GET /admin", "Cookie: bridge_admin=\xff\xfe", b"", 401),
        ("GET /v1/api-keys/me", "X-Api-Key: brk_\xff", b"", 401),
        (
            "POST /v1/login",
            "Authorization: Bearer \xff.\xfe.x\r\nContent-Type: application/json",
            b'{"partner": "acme"}',
            401,
        ),
        (
            "POST /v1/login",
            "Content-Type: application/json\r\nContent-Encoding: gzip",
            b'{"partner": "acme"}',
            400,
        ),
        ("POST /v1/sessions", "Content-Type: application/json\r\nContent-Encoding: gzip", b"\x1f\x8bxx", 400),
    ]
    try:
        for target, headers, body, expected in cases:
            request = (
                f"{target} HTTP/1.1\r\nHost: x\r\n{headers}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1") + body
            status, answer = await raw_status(server.host, server.port, request)
            media = b"text/html" if target == "GET /admin" else b"application/problem+json"  # the page
            assert status == expected and media in answer, (
                target,
                headers,
                answer[:300],
            )
    finally:
        await server.close()
    assert await collection_counts(db) == before
