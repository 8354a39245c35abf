"""The custom token bridge mints: its exact shape, and that Firebase (the emulator) accepts it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import firebase_admin
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from firebase_admin import auth

from bridge.firebase.custom_tokens import FIREBASE_AUDIENCE

from conftest import PROJECT_ID
from partner_tokens import PartnerKeys


@pytest.fixture
def service_account(service_account_file: Path) -> dict[str, Any]:
    account: dict[str, Any] = json.loads(service_account_file.read_text())
    return account


async def test_custom_token_is_rs256_signed_by_the_service_account(client, keys, service_account):
    account = service_account
    response = await client.post(
        "/v1/login", json={"partner": "acme", "token": keys.token(sub="frank", role="admin")}
    )
    custom_token = (await response.json())["custom_token"]

    header = jwt.get_unverified_header(custom_token)
    assert header["alg"] == "RS256"
    assert header["kid"] == account["private_key_id"]
    public_key = load_pem_private_key(account["private_key"].encode(), None).public_key()
    claims = jwt.decode(custom_token, public_key, algorithms=["RS256"], audience=FIREBASE_AUDIENCE)
    assert set(claims) == {"iss", "sub", "aud", "uid", "iat", "exp", "claims"}
    assert claims["iss"] == claims["sub"] == account["client_email"]
    assert claims["aud"] == FIREBASE_AUDIENCE
    assert claims["uid"] == "acme:frank"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["claims"] == {"via": "acme", "role": "admin"}


@pytest.fixture
def firebase_app(auth_emulator_host: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator_host)
    app = firebase_admin.initialize_app(options={"projectId": PROJECT_ID}, name="custom-token-test")
    yield app
    firebase_admin.delete_app(app)


async def test_the_auth_emulator_accepts_the_token_and_the_id_token_carries_uid_and_claims(
    client, keys: PartnerKeys, auth_emulator_host: str, firebase_app: Any
):
    response = await client.post(
        "/v1/login",
        json={"partner": "acme", "token": keys.token(sub="grace", role="editor", plan={"tier": "pro"})},
    )
    custom_token = (await response.json())["custom_token"]

    url = (
        f"http://{auth_emulator_host}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithCustomToken?key=test-api-key"
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json={"token": custom_token, "returnSecureToken": True}) as answer,
    ):
        session = await answer.json()
        assert answer.status == 200, session
    assert session["refreshToken"]

    decoded = auth.verify_id_token(session["idToken"], app=firebase_app)
    assert decoded["uid"] == "acme:grace"
    assert decoded["role"] == "editor"
    assert decoded["tier"] == "pro"
    assert decoded["via"] == "acme"
    assert decoded["firebase"]["sign_in_provider"] == "custom"
