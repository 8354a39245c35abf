"""Push by user reference, against the FCM v1 stand-in: devices, sending, pruning, retries, restarts,
and a fan-out to 1,000 users with 2 devices each."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys
from bridge.store.user_refs import parse_user_ref

from fcm_standin import FcmStandIn


def push_settings(make_settings: Any, fcm: FcmStandIn, **overrides: Any) -> Any:
    values = {
        "fcm_url": fcm.base_url,
        "fcm_token_url": f"{fcm.base_url}/token",
        "push_backoff_seconds": 0.05,
        "push_poll_seconds": 0.1,
        **overrides,
    }
    return make_settings(**values)


@pytest.fixture
async def client(aiohttp_client, make_settings, fcm):
    return await aiohttp_client(create_app(push_settings(make_settings, fcm)))


@pytest.fixture
async def headers(db) -> dict[str, str]:
    _, key = await ApiKeys(db).create("push-backend", {"notifications:send", "accounts:write"})
    return {"Authorization": f"Bearer {key}"}


async def make_user(client: Any, keys: Any, sub: str, **claims: Any) -> str:
    response = await client.post(
        "/v1/login", json={"partner": "acme", "token": keys.token(sub=sub, **claims)}
    )
    assert response.status == 200
    uid: str = (await response.json())["user"]["uid"]
    return uid


async def add_device(
    client: Any, headers: dict[str, str], ref: str, token: str, platform: str = "android"
) -> Any:
    response = await client.put(
        f"/v1/users/{ref}/devices", headers=headers, json={"token": token, "platform": platform}
    )
    assert response.status in (200, 201), await response.text()
    return response


async def send(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/notifications", headers=headers, json=body)
    assert response.status == 202, await response.text()
    accepted: dict[str, Any] = await response.json()
    return accepted


async def finished(
    client: Any, headers: dict[str, str], notification_id: str, seconds: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        report: dict[str, Any] = await (
            await client.get(f"/v1/notifications/{notification_id}", headers=headers)
        ).json()
        if report["state"] == "done":
            return report
        await asyncio.sleep(0.05)
    raise AssertionError(f"notification {notification_id} not delivered in {seconds} s")


async def wait_until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def token(prefix: str, n: int | str = 0) -> str:
    """A registration token; the stand-in's behaviour follows its prefix, and its end (what
    reports show) is unique."""
    return f"{prefix}-{n}-{'x' * 40}-{prefix[:4]}{n:>03}"


def hint(registration_token: str) -> str:
    return "…" + registration_token[-8:]


def test_user_references_in_every_form():
    assert parse_user_ref("acme:alice").uid == "acme:alice"
    assert (parse_user_ref("acme:alice").partner, parse_user_ref("acme:alice").external_id) == (
        "acme",
        "alice",
    )
    assert parse_user_ref("users/acme:alice").uid == "acme:alice"
    assert parse_user_ref("custom-uid").partner is None


async def test_single_recipient_gets_each_device_once_with_the_message(client, keys, headers, fcm):
    uid = await make_user(client, keys, "pat")
    await add_device(client, headers, uid, token("phone"))
    await add_device(client, headers, uid, token("tablet"), "ios")

    accepted = await send(
        client,
        headers,
        recipients=[uid],
        notification={"title": "Hi", "body": "There"},
        data={"kind": "greeting"},
        ttl=60,
        priority="high",
    )
    assert (accepted["recipients"], accepted["devices"], accepted["unknown"]) == (1, 2, [])
    report = await finished(client, headers, accepted["id"])

    assert report["counts"]["sent"] == 2 and report["counts"]["failed"] == 0
    devices = report["recipients"][0]["devices"]
    assert {d["state"] for d in devices} == {"sent"} and all(d["message_id"] for d in devices)
    assert all(d["token"].startswith("…") and len(d["token"]) == 9 for d in devices)  # never the whole token
    assert sorted(fcm.sent_tokens()) == sorted([token("phone"), token("tablet")])
    message = fcm.requests[0]["body"]["message"]
    assert message["notification"] == {"title": "Hi", "body": "There"}
    assert message["data"] == {"kind": "greeting"}
    assert message["android"] == {"ttl": "60s", "priority": "HIGH"}
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert fcm.requests[0]["project"] == "demo-bridge"
    assert fcm.requests[0]["headers"]["Authorization"] == "Bearer ya29.standin-1"
    assert fcm.token_requests == 1  # the access token is cached across sends


async def test_references_in_every_form_unknown_ones_and_users_without_devices(client, keys, headers):
    with_device = await make_user(client, keys, "ref-a")
    without_device = await make_user(client, keys, "ref-b")
    await add_device(client, headers, with_device, token("ref"))

    accepted = await send(
        client, headers, recipients=[f"users/{with_device}", "acme:ref-b", "acme:nobody"], data={"k": "v"}
    )
    report = await finished(client, headers, accepted["id"])

    assert accepted["unknown"] == ["acme:nobody"]
    statuses = {r["ref"]: r["status"] for r in report["recipients"]}
    assert statuses == {
        f"users/{with_device}": "devices",
        "acme:ref-b": "no_devices",
        "acme:nobody": "unknown",
    }
    assert report["counts"]["no_devices"] == 1 and report["counts"]["unknown"] == 1
    assert report["counts"]["sent"] == 1
    assert without_device == "acme:ref-b"


async def test_audience_filter_by_partner_claim_and_registration_time(client, keys, headers, db, fcm):
    editor = await make_user(client, keys, "aud-editor", role="editor")
    viewer = await make_user(client, keys, "aud-viewer", role="viewer")
    old_editor = await make_user(client, keys, "aud-old", role="editor")
    await db.users.update_one(
        {"uid": old_editor}, {"$set": {"created_at": datetime.now(UTC) - timedelta(days=30)}}
    )
    for uid in (editor, viewer, old_editor):
        await add_device(client, headers, uid, token(uid.replace(":", "_")))

    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    accepted = await send(
        client,
        headers,
        audience={"partner": "acme", "claims": {"role": "editor"}, "registered_since": since},
        data={"k": "v"},
    )
    await finished(client, headers, accepted["id"])

    assert accepted["recipients"] == 1
    assert fcm.sent_tokens() == [token(editor.replace(":", "_"))]


async def test_dead_tokens_are_pruned_other_errors_recorded(client, keys, headers, db):
    uid = await make_user(client, keys, "prune")
    for prefix in ("dead", "bad", "huge", "other", "good"):
        await add_device(client, headers, uid, token(prefix))

    report = await finished(
        client, headers, (await send(client, headers, recipients=[uid], data={"k": "v"}))["id"]
    )

    by_token = {d["token"]: (d["state"], d["error"]) for d in report["recipients"][0]["devices"]}
    assert by_token == {
        hint(token("dead")): ("pruned", "UNREGISTERED"),
        hint(token("bad")): ("pruned", "INVALID_ARGUMENT"),
        hint(token("huge")): ("failed", "INVALID_ARGUMENT"),
        hint(token("other")): ("failed", "SENDER_ID_MISMATCH"),
        hint(token("good")): ("sent", None),
    }
    remaining = sorted(d["_id"] for d in await db.devices.find({"uid": uid}).to_list())
    assert remaining == sorted([token("huge"), token("other"), token("good")])
    assert (report["counts"]["pruned"], report["counts"]["failed"], report["counts"]["sent"]) == (2, 2, 1)


async def test_429_and_503_are_retried_with_backoff_honouring_retry_after(client, keys, headers, fcm):
    uid = await make_user(client, keys, "retry")
    await add_device(client, headers, uid, token("busy"))
    await add_device(client, headers, uid, token("flaky"))
    started = time.monotonic()

    report = await finished(
        client, headers, (await send(client, headers, recipients=[uid], data={"k": "v"}))["id"]
    )

    assert report["counts"]["sent"] == 2
    assert {d["attempts"] for d in report["recipients"][0]["devices"]} == {2}
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert Counter(r["body"]["message"]["token"] for r in fcm.requests) == {
        token("busy"): 2,
        token("flaky"): 2,
    }


async def test_payloads_over_4096_bytes_are_400_before_anything_is_stored(client, keys, headers, db, fcm):
    uid = await make_user(client, keys, "big")
    await add_device(client, headers, uid, token("big"))
    response = await client.post(
        "/v1/notifications", headers=headers, json={"recipients": [uid], "data": {"blob": "x" * 4100}}
    )
    assert response.status == 400
    assert "4096" in (await response.json())["detail"]
    assert await db.notifications.count_documents({}) == 0 and await db.deliveries.count_documents({}) == 0
    assert fcm.requests == []


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"k": "v"}},
        {"recipients": ["a:b"], "audience": {"partner": "acme"}, "data": {"k": "v"}},
        {"recipients": ["a:b"]},
        {"recipients": ["a:b"], "data": {"from": "x"}},
        {"recipients": ["a:b"], "data": {"k": 1}},
        {"recipients": ["a:b"], "data": {"k": "v"}, "ttl": 2_419_201},
        {"recipients": ["a:b"], "data": {"k": "v"}, "priority": "urgent"},
        {"audience": {"claims": {"$where": "1"}}, "data": {"k": "v"}},
        {"recipients": ["a:b"], "data": {"k": "v"}, "webpush": {"headers": 5}, "ttl": 10},
        {"recipients": ["a:b"], "data": {"k": "v"}, "apns": {"headers": ["x"]}, "priority": "high"},
    ],
)
async def test_invalid_notifications_are_400(client, headers, db, body):
    response = await client.post("/v1/notifications", headers=headers, json=body)
    assert response.status == 400
    assert await db.notifications.count_documents({}) == 0


async def test_dry_run_asks_fcm_to_validate_only(client, keys, headers, fcm):
    uid = await make_user(client, keys, "dry")
    await add_device(client, headers, uid, token("dry"))
    report = await finished(
        client, headers, (await send(client, headers, recipients=[uid], data={"k": "v"}, dry_run=True))["id"]
    )
    assert report["dry_run"] is True
    assert fcm.requests[0]["body"]["validate_only"] is True


async def test_notifications_need_the_send_scope(client, db):
    _, other = await ApiKeys(db).create("other", {"tokens:mint"})
    body = {"recipients": ["a:b"], "data": {"k": "v"}}
    assert (await client.post("/v1/notifications", json=body)).status == 401
    assert (
        await client.post("/v1/notifications", json=body, headers={"Authorization": f"Bearer {other}"})
    ).status == 403


async def test_signed_in_users_manage_their_devices_and_tokens_move_between_users(client, keys, headers, db):
    sessions = {}
    for sub in ("dev-a", "dev-b"):
        answer = await (
            await client.post(
                "/v1/login", json={"partner": "acme", "token": keys.token(sub=sub), "session": True}
            )
        ).json()
        sessions[sub] = {"Authorization": f"Bearer {answer['id_token']}"}
    shared = token("shared")

    first = await client.put(
        "/v1/me/devices", headers=sessions["dev-a"], json={"token": shared, "platform": "web"}
    )
    again = await client.put(
        "/v1/me/devices", headers=sessions["dev-a"], json={"token": shared, "platform": "web"}
    )
    assert (first.status, again.status) == (201, 200)
    assert await db.devices.count_documents({}) == 1

    moved = await client.put("/v1/me/devices", headers=sessions["dev-b"], json={"token": shared})
    assert moved.status == 201
    assert (await (await client.get("/v1/me/devices", headers=sessions["dev-a"])).json())["devices"] == []
    assert len((await (await client.get("/v1/me/devices", headers=sessions["dev-b"])).json())["devices"]) == 1

    removed = await client.delete("/v1/me/devices", headers=sessions["dev-b"], json={"token": shared})
    assert removed.status == 200
    assert await db.devices.count_documents({}) == 0
    assert (
        await client.delete("/v1/me/devices", headers=sessions["dev-b"], json={"token": shared})
    ).status == 404
    assert (await client.put("/v1/me/devices", json={"token": shared})).status == 401


async def test_devices_per_user_are_capped_oldest_dropped(
    aiohttp_client, make_settings, fcm, keys, headers, db
):
    client = await aiohttp_client(create_app(push_settings(make_settings, fcm, max_devices_per_user=3)))
    uid = await make_user(client, keys, "cap")
    for n in range(4):
        await add_device(client, headers, uid, token("cap", n))
        await asyncio.sleep(0.01)
    assert sorted(d["_id"] for d in await db.devices.find({"uid": uid}).to_list()) == [
        token("cap", n) for n in (1, 2, 3)
    ]


async def test_backend_device_routes_need_a_known_user_and_the_scope(client, keys, headers, db):
    await make_user(client, keys, "be")
    assert (
        await client.put("/v1/users/acme:nobody/devices", headers=headers, json={"token": token("t")})
    ).status == 404
    _, sender_only = await ApiKeys(db).create("sender", {"notifications:send"})
    forbidden = await client.put(
        "/v1/users/acme:be/devices",
        headers={"Authorization": f"Bearer {sender_only}"},
        json={"token": token("t")},
    )
    assert forbidden.status == 403


async def test_a_clean_restart_resumes_and_sends_each_device_exactly_once(
    aiohttp_client, make_settings, fcm, keys, headers, db
):
    settings = push_settings(make_settings, fcm, push_concurrency=4)
    first = await aiohttp_client(create_app(settings))
    uid = await make_user(first, keys, "restart")
    tokens = [token("r", n) for n in range(40)]
    await db.devices.insert_many(
        [
            {
                "_id": t,
                "uid": uid,
                "platform": "android",
                "created_at": datetime.now(UTC),
                "last_seen_at": datetime.now(UTC),
            }
            for t in tokens
        ]
    )
    fcm.delay = 0.05
    accepted = await send(first, headers, recipients=[uid], data={"k": "v"})
    await wait_until(lambda: len(fcm.requests) >= 4)
    await first.close()  # clean shutdown mid-way: in-flight sends finish, the rest is given back

    partly = await db.deliveries.count_documents({"notification_id": accepted["id"], "state": "sent"})
    assert 0 < partly < 40
    assert await db.deliveries.count_documents({"state": "sending"}) == 0

    second = await aiohttp_client(create_app(settings))
    report = await finished(second, headers, accepted["id"])
    assert report["counts"]["sent"] == 40
    assert Counter(fcm.sent_tokens()) == Counter(tokens)  # every device exactly once


async def test_fan_out_to_1000_users_with_2_devices_counts_every_device_once(client, headers, db, fcm):
    now = datetime.now(UTC)
    users = [
        {
            "uid": f"acme:fan-{n}",
            "partner": "acme",
            "external_id": f"fan-{n}",
            "disabled": False,
            "claims": {},
            "created_at": now,
        }
        for n in range(1000)
    ]
    await db.users.insert_many(users)
    await db.devices.insert_many(
        [
            {
                "_id": token(f"fan{n}", d),
                "uid": f"acme:fan-{n}",
                "platform": "android",
                "created_at": now,
                "last_seen_at": now,
            }
            for n in range(1000)
            for d in range(2)
        ]
    )

    accepted = await send(client, headers, recipients=[u["uid"] for u in users], data={"k": "v"})
    report = await finished(client, headers, accepted["id"], seconds=120)

    assert (accepted["recipients"], accepted["devices"]) == (1000, 2000)
    assert report["counts"] == {
        "recipients": 1000,
        "devices": 2000,
        "sent": 2000,
        "failed": 0,
        "pruned": 0,
        "pending": 0,
        "no_devices": 0,
        "unknown": 0,
    }
    assert all(len(r["devices"]) == 2 for r in report["recipients"])
    sent = Counter(fcm.sent_tokens())
    assert len(sent) == 2000 and set(sent.values()) == {1}
