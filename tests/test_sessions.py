"""Firebase sessions through the Auth emulator: exchange, refresh, cookies, /v1/me, logout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from firebase_admin import auth

from bridge.app import create_app


async def login(client: Any, keys: Any, sub: str = "sam", **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/login", json={"partner": "acme", "token": keys.token(sub=sub, role="r"), **body}
    )
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def test_login_with_session_returns_firebase_tokens(client, keys):
    answer = await login(client, keys, session=True)

    assert answer["refresh_token"] and answer["id_token"]
    assert answer["session"]["uid"] == "acme:sam"
    assert answer["session"]["expires_in"] == 3600
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['id_token']}"})
    assert me.status == 200
    assert (await me.json())["user"]["uid"] == "acme:sam"


async def test_exchange_and_refresh(client, keys):
    custom_token = (await login(client, keys))["custom_token"]

    exchanged = await client.post("/v1/sessions", json={"custom_token": custom_token})
    assert exchanged.status == 200
    session = await exchanged.json()
    assert session["uid"] == "acme:sam" and session["id_token"] and session["refresh_token"]

    refreshed = await client.post("/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status == 200
    fresh = await refreshed.json()
    assert fresh["uid"] == "acme:sam"
    assert (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {fresh['id_token']}"})
    ).status == 200


async def test_bad_custom_and_refresh_tokens_are_401(client):
    assert (await client.post("/v1/sessions", json={"custom_token": "nonsense"})).status == 401
    assert (await client.post("/v1/sessions/refresh", json={"refresh_token": "nonsense"})).status == 401
    assert (await client.post("/v1/sessions", json={"custom_token": 5})).status == 400


async def test_sessions_without_a_web_api_key_are_501(aiohttp_client, make_settings, keys):
    client = await aiohttp_client(create_app(make_settings(firebase_web_api_key=None)))
    custom_token = (await login(client, keys))["custom_token"]
    response = await client.post("/v1/sessions", json={"custom_token": custom_token})
    assert response.status == 501
    assert (await response.json())["type"] == "/problems/sessions-not-configured"


async def test_session_cookie_is_set_with_safe_attributes(client, keys):
    id_token = (await login(client, keys, session=True))["id_token"]

    response = await client.post("/v1/sessions/cookie", json={"id_token": id_token, "expires_in": 3600})

    assert response.status == 200
    cookie = response.cookies["__session"]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == "3600"
    assert cookie["path"] == "/"
    me = await client.get("/v1/me", headers={"Cookie": f"__session={cookie.value}"})
    assert me.status == 200
    assert (await me.json())["user"]["uid"] == "acme:sam"


@pytest.mark.parametrize("lifetime", [60, 299, 14 * 24 * 3600 + 1])
async def test_cookie_lifetimes_outside_5_minutes_to_14_days_are_400(client, keys, lifetime):
    id_token = (await login(client, keys, session=True))["id_token"]
    response = await client.post("/v1/sessions/cookie", json={"id_token": id_token, "expires_in": lifetime})
    assert response.status == 400
    assert "__session" not in response.cookies


async def test_cookie_needs_a_valid_id_token(client):
    response = await client.post("/v1/sessions/cookie", json={"id_token": "forged", "expires_in": 3600})
    assert response.status == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Cookie": "__session=not-a-cookie"},
    ],
)
async def test_me_refuses_anything_but_a_valid_token_or_cookie(client, headers):
    response = await client.get("/v1/me", headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"


async def test_logout_revokes_the_id_token_the_cookie_and_refreshed_tokens(client, keys, firebase_admin_app):
    answer = await login(client, keys, session=True)
    id_token, refresh_token = answer["id_token"], answer["refresh_token"]
    cookie = await client.post("/v1/sessions/cookie", json={"id_token": id_token, "expires_in": 3600})
    session_cookie = cookie.cookies["__session"].value
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {id_token}"})).status == 200
    # Firebase's rule keeps a session that began in the revocation's own second: log out in a
    # later second than the sign-in, so this session is the revoked kind.
    await next_second_after(jwt.decode(id_token, options={"verify_signature": False})["auth_time"])

    logout = await client.post("/v1/logout", headers={"Authorization": f"Bearer {id_token}"})

    assert logout.status == 200
    assert logout.cookies["__session"].value == ""  # cleared
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {id_token}"})).status == 401
    assert (await client.get("/v1/me", headers={"Cookie": f"__session={session_cookie}"})).status == 401
    # Firebase records the revocation too
    user = await asyncio.to_thread(auth.get_user, "acme:sam", app=firebase_admin_app)
    assert user.tokens_valid_after_timestamp > 0
    # the emulator still refreshes revoked sessions; bridge refuses what comes out of that
    refreshed = await client.post("/v1/sessions/refresh", json={"refresh_token": refresh_token})
    if refreshed.status == 200:
        fresh = (await refreshed.json())["id_token"]
        assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {fresh}"})).status == 401

    # Logging straight back in (same second as the logout, Firebase's rule) works.
    again = await login(client, keys, session=True)
    assert (
        await client.get("/v1/me", headers={"Authorization": f"Bearer {again['id_token']}"})
    ).status == 200


async def next_second_after(epoch_second: int) -> None:
    """Wait (polling, with a deadline) until the wall clock is past `epoch_second`."""
    deadline = time.monotonic() + 5
    while time.time() < epoch_second + 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_logout_then_immediate_login_is_a_valid_session(client, keys):
    """Three rounds of logout → re-login at once → /v1/me, as fast as they go (issue 10 §6)."""
    answer = await login(client, keys, session=True)
    for _ in range(3):
        logout = await client.post("/v1/logout", headers={"Authorization": f"Bearer {answer['id_token']}"})
        assert logout.status == 200
        answer = await login(client, keys, session=True)
        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {answer['id_token']}"})
        assert me.status == 200, await me.text()


async def test_logout_without_a_session_is_401(client):
    assert (await client.post("/v1/logout")).status == 401
