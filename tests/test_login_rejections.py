"""Every rejected login answers its 4xx as problem+json and writes nothing to MongoDB."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import jwt
import pytest

from partner_tokens import PartnerKeys


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(keys: PartnerKeys, alg: str = "none") -> str:
    valid = jwt.decode(keys.token(), options={"verify_signature": False})
    return f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(valid)}."


def bad_signature(keys: PartnerKeys) -> str:
    return keys.token(key="a-different-secret-that-is-long-enough-0123456789")


def tampered_payload(keys: PartnerKeys) -> str:
    header, _, signature = keys.token(sub="victim").split(".")
    forged = jwt.decode(keys.token(sub="victim"), options={"verify_signature": False})
    forged["sub"] = "admin"
    return f"{header}.{_b64(forged)}.{signature}"


CREDENTIALS = {
    "bad signature": bad_signature,
    "payload changed after signing": tampered_payload,
    "algorithm not in the allow-list": lambda k: k.token(algorithm="HS512"),
    "alg none": lambda k: unsigned(k, "none"),
    "alg None": lambda k: unsigned(k, "None"),
    "alg NONE": lambda k: unsigned(k, "NONE"),
    "expired": lambda k: k.token(exp=int(time.time()) - 120),
    "no exp": lambda k: k.token(drop=("exp",)),
    "wrong iss": lambda k: k.token(iss="https://evil.test"),
    "iss sharing a prefix": lambda k: k.token(iss="https://login.acme.test.evil.test"),
    "no iss": lambda k: k.token(drop=("iss",)),
    "wrong aud": lambda k: k.token(aud="someone-else"),
    "aud list without ours": lambda k: k.token(aud=["a", "b"]),
    "no aud": lambda k: k.token(drop=("aud",)),
    "missing user-id claim": lambda k: k.token(drop=("sub",)),
    "empty user-id claim": lambda k: k.token(sub=""),
    "user-id claim not a string": lambda k: k.token(sub={"id": 1}),
    "nbf in the future": lambda k: k.token(nbf=int(time.time()) + 3600),
    "crit header": lambda k: k.token(headers={"crit": ["exp"]}),
    "oversized token": lambda k: k.token(padding="x" * 9000),
    "not a jwt": lambda k: "not-a-jwt",
    "segments not base64 json": lambda k: "e30.bm90IGpzb24.c2ln",
    "another partner's token": lambda k: k.token("rsa-co"),
}


@pytest.mark.parametrize("name", CREDENTIALS)
async def test_invalid_credentials_get_401_and_change_nothing(client, keys, db, caplog, name):
    token = CREDENTIALS[name](keys)
    caplog.set_level(logging.INFO)

    response = await client.post("/v1/login", json={"partner": "acme", "token": token})

    assert response.status == 401
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == "/problems/invalid-credential"
    assert body["detail"] == "The credential was not accepted."  # the same for every reason
    assert await db.users.count_documents({}) == 0
    rejections = [r for r in caplog.records if r.getMessage() == "login rejected"]
    assert len(rejections) == 1 and rejections[0].reason  # the precise reason is logged
    assert all(token not in r.getMessage() and token not in str(vars(r)) for r in caplog.records)


REQUESTS = {
    "malformed JSON": (b'{"partner": "acme", "token": ', 400, "/problems/bad-request"),
    "a JSON array": (b"[]", 400, "/problems/bad-request"),
    "empty body": (b"", 400, "/problems/bad-request"),
    "partner not a string": (b'{"partner": 7, "token": "x"}', 400, "/problems/bad-request"),
    "token not a string": (b'{"partner": "acme", "token": 7}', 400, "/problems/bad-request"),
    "operator injection": (b'{"partner": {"$ne": null}, "token": "x"}', 400, "/problems/bad-request"),
    "unknown field": (b'{"partner": "acme", "token": "x", "admin": true}', 400, "/problems/bad-request"),
    "no token": (b'{"partner": "acme"}', 400, "/problems/bad-request"),
    "unknown partner": (b'{"partner": "nobody", "token": "x"}', 400, "/problems/unknown-partner"),
}


@pytest.mark.parametrize("name", REQUESTS)
async def test_malformed_requests_get_400_and_change_nothing(client, db, name):
    raw, status, problem_type = REQUESTS[name]
    response = await client.post("/v1/login", data=raw, headers={"Content-Type": "application/json"})

    assert response.status == status
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == problem_type
    assert body["status"] == status
    assert await db.users.count_documents({}) == 0


async def test_field_errors_name_the_field_and_never_echo_the_value(client):
    secret_looking = "s3cr3t-value-that-must-not-come-back"
    response = await client.post("/v1/login", json={"partner": "acme", "token": 12, "x": secret_looking})
    body = await response.json()
    assert {error["field"] for error in body["errors"]} == {"token", "x"}
    assert secret_looking not in json.dumps(body)


async def test_oversized_body_is_413_problem(client, db):
    response = await client.post(
        "/v1/login", data=b"{" + b" " * (1100 * 1024) + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert response.content_type == "application/problem+json"
