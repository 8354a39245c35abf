"""The HTTP surface: health, problem+json for every error, request ids, logs without secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from bridge.infra.logs import JsonFormatter
from bridge.store.api_keys import ApiKeys


async def test_healthz_and_readyz(client):
    assert await (await client.get("/healthz")).json() == {"status": "ok"}
    deadline = time.monotonic() + 10
    while True:
        ready = await client.get("/readyz")
        assert ready.status == 200
        checks = (await ready.json())["checks"]
        if checks["push_worker"] != "starting" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert checks == {"mongodb": "ok", "push_worker": "ok"}


async def test_unknown_route_and_wrong_method_are_problem_json(client):
    missing = await client.get("/nope")
    assert missing.status == 404
    assert missing.content_type == "application/problem+json"
    assert (await missing.json())["status"] == 404
    wrong = await client.get("/v1/login")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "POST"
    assert wrong.content_type == "application/problem+json"


async def test_request_id_is_returned_and_a_valid_incoming_one_kept(client):
    generated = await client.get("/healthz")
    assert len(generated.headers["X-Request-Id"]) == 32
    kept = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert kept.headers["X-Request-Id"] == "abc-123"
    replaced = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert replaced.headers["X-Request-Id"] != "bad id\twith junk"


async def test_problem_carries_the_request_id(client):
    response = await client.get("/nope", headers={"X-Request-Id": "trace-me"})
    assert (await response.json())["request_id"] == "trace-me"


async def test_request_log_line_has_fields_and_no_token(client, keys, caplog):
    caplog.set_level(logging.INFO, logger="bridge.access")
    token = keys.token(sub="logged")
    await client.post(
        "/v1/login?token=" + token,
        json={"partner": "acme", "token": token},
        headers={"X-Request-Id": "log-test"},
    )
    records = [r for r in caplog.records if r.name == "bridge.access"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["method"] == "POST" and line["path"] == "/v1/login" and line["status"] == 200
    assert line["duration_ms"] >= 0
    assert token not in json.dumps(line)


async def test_log_lines_carry_the_request_id_of_their_request(client, keys, caplog):
    caplog.set_level(logging.INFO)
    await client.post(
        "/v1/login", json={"partner": "acme", "token": "junk"}, headers={"X-Request-Id": "req-42"}
    )
    rejected = next(r for r in caplog.records if r.getMessage() == "login rejected")
    line = json.loads(JsonFormatter().format(rejected))
    assert line["request_id"] == "req-42"
    assert line["partner"] == "acme"
    assert line["reason"]


async def test_answers_that_carry_tokens_are_never_cached(client, keys, db):
    """A custom, ID or refresh token in a cached answer is a credential a shared cache hands to the
    next caller: every token-bearing answer is `Cache-Control: no-store` (RFC 6749 §5.1)."""
    _, api_key = await ApiKeys(db).create("no-store", {"accounts:write", "tokens:mint"})
    backend = {"Authorization": f"Bearer {api_key}"}
    external_id = f"nostore-{uuid.uuid4().hex[:8]}"

    login = await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub=external_id)})
    session = await client.post("/v1/sessions", json={"custom_token": (await login.json())["custom_token"]})
    refreshed = await client.post(
        "/v1/sessions/refresh", json={"refresh_token": (await session.json())["refresh_token"]}
    )
    account = await client.post(
        "/v1/accounts", headers=backend, json={"partner": "acme", "external_id": external_id + "-b"}
    )
    minted = await client.post("/v1/custom-tokens", headers=backend, json={"uid": f"acme:{external_id}"})
    refused = await client.post("/v1/login", json={"partner": "acme", "token": "x.y.z"})

    answers = [login, session, refreshed, account, minted, refused]
    assert [a.status for a in answers] == [200, 200, 200, 201, 200, 401]
    assert [a.headers.get("Cache-Control") for a in answers] == ["no-store"] * len(answers)
