"""Forged credentials aimed at the key-selection logic: key confusion, token-chosen keys, kid tricks.
(test_login_rejections.py holds the claim- and format-level attacks.) Each is 401 and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from bridge.app import create_app

from conftest import serve_standin
from partner_server import PartnerServer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_raw_key(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256 signed by hand: PyJWT itself refuses to use a PEM or JWK as an HMAC secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def claims(issuer: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": "bridge", "sub": "victim", "iat": now, "exp": now + 300, **extra}


@pytest.fixture
async def attacker(aiohttp_server) -> PartnerServer:
    server = await serve_standin(aiohttp_server, PartnerServer())
    server.add_rsa_key("attacker-key")
    return server


@pytest.fixture
async def client(aiohttp_client, make_settings, partner_server):
    partner_server.add_rsa_key("good")
    partners = {"sso": partner_server.jwks_partner()}
    return await aiohttp_client(create_app(make_settings(extra_partners=partners)))


def pem_public(keys) -> bytes:
    return keys.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def forged(name: str, keys, server: PartnerServer, attacker: PartnerServer) -> tuple[str, str]:
    """(partner, token) for each attack."""
    jwk_json = RSAAlgorithm.to_jwk(keys.rsa_key.public_key()).encode()
    attacker_jwk = RSAAlgorithm.to_jwk(attacker.keys["attacker-key"].public_key(), as_dict=True)
    attacks = {
        "HS256 signed with the partner's RSA public key (PEM)": lambda: (
            "rsa-co",
            hs256_with_raw_key({"alg": "HS256", "typ": "JWT"}, claims("https://rsa.test"), pem_public(keys)),
        ),
        "HS256 signed with the partner's RSA public key (JWK)": lambda: (
            "rsa-co",
            hs256_with_raw_key({"alg": "HS256", "typ": "JWT"}, claims("https://rsa.test"), jwk_json),
        ),
        "HS256 signed with the JWKS key's JWK, kid of the real key": lambda: (
            "sso",
            hs256_with_raw_key(
                {"alg": "HS256", "kid": "good"},
                claims(server.base_url),
                json.dumps(server.jwks()["keys"][0]).encode(),
            ),
        ),
        "jku header pointing at the attacker's JWKS": lambda: (
            "sso",
            attacker.token(
                "attacker-key", server.base_url, headers={"jku": f"{attacker.base_url}/jwks.json"}
            ),
        ),
        "x5u header pointing at the attacker": lambda: (
            "sso",
            attacker.token(
                "attacker-key", server.base_url, headers={"x5u": f"{attacker.base_url}/jwks.json"}
            ),
        ),
        "embedded jwk header with the attacker's key": lambda: (
            "sso",
            attacker.token("attacker-key", server.base_url, headers={"jwk": attacker_jwk}),
        ),
        "attacker key reusing the real kid": lambda: (
            "sso",
            attacker.token("attacker-key", server.base_url, sub="victim", headers={"kid": "good"}),
        ),
        "unknown kid": lambda: ("sso", attacker.token("attacker-key", server.base_url)),
        "kid that is a path": lambda: (
            "sso",
            attacker.token(
                "attacker-key", server.base_url, sub="victim", headers={"kid": "../../../../dev/null"}
            ),
        ),
        "kid with an injection string": lambda: (
            "sso",
            attacker.token(
                "attacker-key",
                server.base_url,
                sub="victim",
                headers={"kid": "' OR '1'='1'; {\"$ne\": null}"},
            ),
        ),
        "iat far in the future": lambda: ("sso", server.token("good", iat=int(time.time()) + 86400)),
        "alg none with the real kid": lambda: (
            "sso",
            f"{_b64(json.dumps({'alg': 'none', 'kid': 'good'}).encode())}."
            f"{_b64(json.dumps(claims(server.base_url)).encode())}.",
        ),
        "stripped signature": lambda: ("sso", server.token("good").rsplit(".", 1)[0] + "."),
        "token of partner A presented as partner B": lambda: ("sso", keys.token("rsa-co")),
    }
    return attacks[name]()


ATTACKS = [
    "HS256 signed with the partner's RSA public key (PEM)",
    "HS256 signed with the partner's RSA public key (JWK)",
    "HS256 signed with the JWKS key's JWK, kid of the real key",
    "jku header pointing at the attacker's JWKS",
    "x5u header pointing at the attacker",
    "embedded jwk header with the attacker's key",
    "attacker key reusing the real kid",
    "unknown kid",
    "kid that is a path",
    "kid with an injection string",
    "iat far in the future",
    "alg none with the real kid",
    "stripped signature",
    "token of partner A presented as partner B",
]


@pytest.mark.parametrize("name", ATTACKS)
async def test_forged_credentials_are_rejected(name, client, keys, partner_server, attacker, db):
    partner, token = forged(name, keys, partner_server, attacker)

    response = await client.post("/v1/login", json={"partner": partner, "token": token})

    assert response.status == 401, await response.text()
    assert (await response.json())["type"] == "/problems/invalid-credential"
    assert attacker.jwks_requests == 0  # bridge never fetches a key the token points at
    assert await db.users.count_documents({}) == 0
    assert await db.used_tokens.count_documents({}) == 0
