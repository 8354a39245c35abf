"""No credential reaches a log line: every credential kind bridge takes, presented valid, invalid and
malformed to every route that takes it, over HTTP and raw sockets (for the bytes an HTTP client
refuses to send), against the real stack. A log line may name a reason code and a fingerprint (the
first 8 hex of the value's SHA-256), never the value nor any 12-character piece of it."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from contract import contract_of
from every_credential import credentials, serve_bridge
from raw_http import raw_request

from bridge.infra.logs import JsonFormatter, TextFormatter
from bridge.web.routes import openapi_document

PIECE = 12


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        """Each record with everything it holds (message, extras, exception), before the shipped
        formatters mask credential shapes: what the code logs must be clean on its own."""
        plain = logging.Formatter("%(name)s %(message)s")
        return [
            line
            for record in self.records
            for line in (JsonFormatter().unmasked(record), plain.format(record))
        ]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """Every record at the level bridge ships with (INFO), and bridge's and aiohttp's own at DEBUG."""
    handler = Capture()
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in ("bridge", "aiohttp")]
    saved = (root.level, [logger.level for logger in loggers])
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved[0])
    for logger, level in zip(loggers, saved[1], strict=True):
        logger.setLevel(level)


def pieces(value: str) -> set[str]:
    return {value[i : i + PIECE] for i in range(len(value) - PIECE + 1)}


def tampered(token: str) -> str:
    """The same token with another signature (invalid, same shape)."""
    head, _, _ = token.rpartition(".")
    return f"{head}.{secrets.token_urlsafe(43)}"


PLACES = {
    "api key": [("Authorization", "Bearer {}"), ("X-Api-Key", "{}")],
    "admin jwt": [("Authorization", "Bearer {}"), ("Cookie", "bridge_admin={}")],
    "id token": [("Authorization", "Bearer {}")],
    "session cookie": [("Cookie", "__session={}")],
}


def protected_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, credential kinds) of every operation the contract puts behind a credential
    (logout aside: it ends the session)."""
    kinds_by_scheme = {
        "apiKey": "api key",
        "apiKeyHeader": "api key",
        "adminPartnerToken": "admin jwt",
        "adminCookie": "admin jwt",
        "idToken": "id token",
        "sessionCookie": "session cookie",
    }
    found = []
    for path, methods in openapi_document()["paths"].items():
        for method, entry in methods.items():
            schemes = [next(iter(requirement)) for requirement in entry.get("security", [])]
            if schemes and path != "/v1/logout":
                kinds = sorted({kinds_by_scheme[scheme] for scheme in schemes})
                found.append((method.upper(), path, kinds))
    return found


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def raw(request_line: str, *headers: str) -> str:
    return "\r\n".join([request_line, "Host: x", *headers, "", ""])


async def test_no_credential_of_any_kind_reaches_a_log_line(
    make_settings, partner_server, keys, db, fcm, capture
):
    server = await serve_bridge(
        make_settings, partner_server, fcm_url=fcm.base_url, fcm_token_url=f"{fcm.base_url}/token"
    )
    session = aiohttp.ClientSession()
    base = str(server.make_url("")).rstrip("/")
    presented: dict[str, str] = {}  # every value sent, by a name for the failure message
    answers: list[tuple[str, int, bytes]] = []  # (case, status, body) of every request
    off_contract: list[str] = []  # what /openapi.json does not document in those answers

    async def send(case: str, method: str, path: str, **kwargs: Any) -> int:
        async with session.request(method, base + path, allow_redirects=False, **kwargs) as response:
            answers.append((case, response.status, await response.read()))
            off_contract.extend(f"{case}: {v}" for v in await contract.violations_of(response))
            return response.status

    try:
        async with session.get(f"{base}/openapi.json") as served:
            contract = contract_of(await served.text())
        creds = await credentials(session, base, db, keys, partner_server)
        valid = creds.values()
        presented.update({f"valid {kind}": value for kind, value in valid.items()})
        jwt_like = {
            kind: valid[kind]
            for kind in (
                "partner_jwt",
                "jwks_jwt",
                "single_use_jwt",
                "admin_jwt",
                "custom_token",
                "id_token",
                "session_cookie",
            )
        }
        invalid = {f"invalid {kind}": tampered(value) for kind, value in jwt_like.items()}
        invalid["invalid api_key"] = creds.api_key[:-10] + secrets.token_urlsafe(8)[:10]
        invalid["invalid refresh_token"] = secrets.token_urlsafe(160)
        invalid["invalid password"] = f"wrong password {secrets.token_hex(8)}"
        malformed = {
            "malformed token": f"not-a-jwt-{secrets.token_urlsafe(30)}",
            "malformed dotted": f"{secrets.token_urlsafe(20)}.{secrets.token_urlsafe(20)}.x",
            "malformed base64": f"eyJ{secrets.token_hex(20)}!!.{secrets.token_hex(20)}",
            "malformed api_key": f"brk_{secrets.token_hex(6)}_{secrets.token_urlsafe(20)}",
            "malformed huge": secrets.token_urlsafe(9000),
        }
        presented.update(invalid)
        presented.update(malformed)
        tokens_to_try = [valid["partner_jwt"], invalid["invalid partner_jwt"], *malformed.values()]

        # Partner JWTs: body, header and query (redirect login); valid, invalid and malformed.
        for token in tokens_to_try:
            await send("jwt in body", "POST", "/v1/login", json={"partner": "acme", "token": token})
            await send(
                "jwt in header",
                "POST",
                "/v1/login",
                json={"partner": "acme"},
                headers={"Authorization": f"Bearer {token}"},
            )
            await send("jwt in query", "GET", "/v1/login/redirect", params={"partner": "sso", "token": token})
            await send(
                "jwt in query, bad redirect",
                "GET",
                "/v1/login/redirect",
                params={"partner": "sso", "token": token, "redirect": "https://evil.test/"},
            )
        for partner, token in (
            ("sso", valid["jwks_jwt"]),
            ("sso", invalid["invalid jwks_jwt"]),
            ("once", valid["single_use_jwt"]),
            ("once", valid["single_use_jwt"]),
            ("once", invalid["invalid single_use_jwt"]),
        ):
            await send("jwt in body", "POST", "/v1/login", json={"partner": partner, "token": token})
        await send(
            "redirect login",
            "GET",
            "/v1/login/redirect",
            params={"partner": "sso", "token": valid["jwks_jwt"]},
        )
        # Passwords: valid, wrong, malformed (too long, control characters).
        for password in (
            creds.password,
            invalid["invalid password"],
            "x" * 9000,
            f"\x00\x01{creds.password}",
        ):
            presented.setdefault(f"password {len(presented)}", password)
            await send(
                "password",
                "POST",
                "/v1/login",
                json={"partner": "shop", "username": "ann@shop.test", "password": password},
            )
        # API keys: both headers, on key routes, user routes (the reported leak) and admin routes.
        for key in (
            creds.api_key,
            invalid["invalid api_key"],
            malformed["malformed api_key"],
            malformed["malformed token"],
        ):
            for route in ("/v1/api-keys/me", "/admin/v1/users", "/v1/me", "/v1/me/devices"):
                await send("key as bearer", "GET", route, headers={"Authorization": f"Bearer {key}"})
                await send("key as X-Api-Key", "GET", route, headers={"X-Api-Key": key})
            await send("key as session cookie", "GET", "/v1/me", headers={"Cookie": f"__session={key}"})
            await send("key as admin cookie", "GET", "/admin", headers={"Cookie": f"bridge_admin={key}"})
            await send("key in admin form", "POST", "/admin/login", data={"credential": key})
            await send(
                "key on accounts",
                "POST",
                "/v1/accounts",
                headers={"X-Api-Key": key},
                json={"partner": "acme", "external_id": f"logs-{len(answers)}"},
            )
        # Admin partner tokens (bearer, cookie, form).
        for token in (valid["admin_jwt"], invalid["invalid admin_jwt"]):
            await send("admin jwt", "GET", "/admin/v1/users", headers={"Authorization": f"Bearer {token}"})
            await send("admin jwt cookie", "GET", "/admin", headers={"Cookie": f"bridge_admin={token}"})
            await send("admin jwt form", "POST", "/admin/login", data={"credential": token})
        # ID tokens and session cookies: bearer, cookie, cookie exchange, devices.
        for token in (valid["id_token"], invalid["invalid id_token"], *malformed.values()):
            await send("id token", "GET", "/v1/me", headers={"Authorization": f"Bearer {token}"})
            await send(
                "id token → cookie",
                "POST",
                "/v1/sessions/cookie",
                json={"id_token": token, "expires_in": 600},
            )
            await send(
                "id token devices",
                "PUT",
                "/v1/me/devices",
                headers={"Authorization": f"Bearer {token}"},
                json={"token": "fcm-device-token-for-logs-0123456789"},
            )
        for cookie in (valid["session_cookie"], invalid["invalid session_cookie"], *malformed.values()):
            await send("session cookie", "GET", "/v1/me", headers={"Cookie": f"__session={cookie}"})
            await send(
                "session cookie devices", "GET", "/v1/me/devices", headers={"Cookie": f"__session={cookie}"}
            )
        # Refresh and custom tokens.
        for token in (valid["refresh_token"], invalid["invalid refresh_token"], malformed["malformed token"]):
            await send("refresh token", "POST", "/v1/sessions/refresh", json={"refresh_token": token})
        for token in (valid["custom_token"], invalid["invalid custom_token"], malformed["malformed dotted"]):
            await send("custom token", "POST", "/v1/sessions", json={"custom_token": token})
        # Every credential in a body of the wrong media type, and in an unparseable one.
        for name, value in list(presented.items())[:12]:
            await send(
                "text/plain",
                "POST",
                "/v1/login",
                data=f'{{"partner":"acme","token":"{value}"}}',
                headers={"Content-Type": "text/plain"},
            )
            await send(
                "broken json",
                "POST",
                "/v1/sessions",
                data=f'{{"custom_token": "{value}"',
                headers={"Content-Type": "application/json"},
            )
        # Raw sockets: the bytes an HTTP client refuses to send.
        host, port = server.host, server.port
        assert port is not None
        redirect = "/v1/login/redirect?partner=sso&token="
        raw_cases = [
            ("control byte in the request line", raw(f"GET {redirect}{valid['jwks_jwt']}\x01 HTTP/1.1")),
            ("NUL in the query", raw(f"GET {redirect}{valid['partner_jwt']}\x00x HTTP/1.1")),
            (
                "control byte in the Authorization header",
                raw("GET /v1/me HTTP/1.1", f"Authorization: Bearer {valid['id_token']}\x01"),
            ),
            (
                "control byte in X-Api-Key",
                raw("GET /v1/api-keys/me HTTP/1.1", f"X-Api-Key: \x02{creds.api_key}"),
            ),
            (
                "control byte in the cookie",
                raw("GET /v1/me HTTP/1.1", f"Cookie: __session={valid['session_cookie']}\x7f\x03"),
            ),
            ("the token as the method", raw(f"{valid['admin_jwt']} / HTTP/1.1")),
            ("a header line without a colon", raw("GET /v1/me HTTP/1.1", f"Bearer {valid['custom_token']}")),
            ("a space in the request target", raw(f"GET {redirect}{valid['single_use_jwt']} x HTTP/1.1")),
        ]
        for case, request in raw_cases:
            answer = await raw_request(host, port, request.encode("latin-1"))
            status = int(answer.split(b" ", 2)[1])
            answers.append((f"raw: {case}", status, answer))
            assert status == 400, (case, answer[:200])
            assert b"application/problem+json" in answer
        # Every operation the contract protects, with each credential kind it takes: valid,
        # invalid and malformed.
        for method, path, kinds in protected_operations():
            url = path.replace("{ref}", "acme:nobody").replace("{id}", "x").replace("{action}", "revoke")
            for kind in kinds:
                value = {
                    "api key": creds.api_key,
                    "admin jwt": creds.admin_jwt,
                    "id token": creds.id_token,
                    "session cookie": creds.session_cookie,
                }[kind]
                wrong = invalid["invalid api_key"] if kind == "api key" else tampered(value)
                for variant in (value, wrong, malformed["malformed dotted"]):
                    for where in PLACES[kind]:
                        headers = {where[0]: where[1].format(variant)}
                        body = {"json": {}} if method in ("POST", "PUT", "DELETE") else {}
                        await send(f"{kind} {method} {path}", method, url, headers=headers, **body)
        # Last: logout with the ID token (it revokes the session).
        await send("logout", "POST", "/v1/logout", headers={"Authorization": f"Bearer {valid['id_token']}"})
    finally:
        await session.close()
        await server.close()

    lines = capture.lines()
    leaks = []
    for name, value in presented.items():
        value_pieces = pieces(value)
        for line in lines:
            if any(line[i : i + PIECE] in value_pieces for i in range(len(line) - PIECE + 1)):
                leaks.append((name, line[:300]))
                break
    print(f"{len(presented)} values presented in {len(answers)} requests; {len(lines)} log lines checked")
    assert leaks == []
    assert off_contract == [], "\n".join(off_contract)
    # Nothing is echoed back either, except where the API's answer *is* a credential (login, sessions).
    echoed = [
        case
        for case, status, body in answers
        if status >= 400 and any(p.encode() in body for v in presented.values() for p in list(pieces(v))[:50])
    ]
    assert echoed == []
    # The capture saw the request log and the reasons: the API key sent as an ID token is named by
    # its reason and fingerprint only.
    assert len(answers) > 350 and len(lines) > 2 * len(answers)
    rejected = [r for r in capture.records if r.getMessage() == "id token rejected"]
    assert {getattr(r, "fingerprint", None) for r in rejected} >= {fingerprint(creds.api_key)}
    assert all(isinstance(getattr(r, "reason", None), str) and " " not in r.reason for r in rejected)
    assert any(r.getMessage() == "malformed request refused" for r in capture.records)


def test_the_shipped_formatters_mask_credential_shapes_as_a_second_line_of_defence(keys):
    token, key = keys.token(sub="masked"), "brk_0123456789ab_" + secrets.token_urlsafe(32)
    try:
        raise ValueError(f"library text quoting {token}")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.INFO, __file__, 1, "saw %s", (key,), sys.exc_info(), extra={"reason": token}
        )
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert "[redacted]" in line and "saw [redacted]" in line
        assert not pieces(token) & {line[i : i + PIECE] for i in range(len(line))}
        assert not pieces(key) & {line[i : i + PIECE] for i in range(len(line))}
