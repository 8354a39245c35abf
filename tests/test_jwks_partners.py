"""JWKS and OIDC partners: rotation, kid-miss rate limiting, outages, discovery checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bridge.partners.jwks import cache_seconds, parse_jwks

from partner_server import PartnerServer


def jwks_partner(server: PartnerServer, **rules: Any) -> dict[str, Any]:
    return server.jwks_partner(algorithms=["RS256", "ES256"], **rules)


def oidc_partner(server: PartnerServer, **rules: Any) -> dict[str, Any]:
    return {"kind": "oidc", "issuer": server.base_url, "audience": "bridge", **rules}


@pytest.fixture
def start(start_with_partners):
    return start_with_partners


async def login(client: Any, partner: str, token: str) -> Any:
    return await client.post("/v1/login", json={"partner": partner, "token": token})


async def test_jwks_partner_logs_in_with_rsa_and_ec_keys(start, partner_server):
    partner_server.add_rsa_key("r1")
    partner_server.add_ec_key("e1")
    client = await start(sso=jwks_partner(partner_server))

    rsa_login = await login(client, "sso", partner_server.token("r1", sub="ann"))
    ec_login = await login(client, "sso", partner_server.token("e1", algorithm="ES256", sub="ben"))

    assert rsa_login.status == 200 and (await rsa_login.json())["user"]["uid"] == "sso:ann"
    assert ec_login.status == 200 and (await ec_login.json())["user"]["uid"] == "sso:ben"
    assert partner_server.jwks_requests == 1  # one fetch, then the cache


async def test_rotation_new_key_is_picked_up_and_a_removed_one_stops_working(start, partner_server):
    partner_server.add_rsa_key("old")
    client = await start(sso=jwks_partner(partner_server, kid_miss_refresh_seconds=0.1))
    old_token = partner_server.token("old", sub="u1")
    assert (await login(client, "sso", old_token)).status == 200

    partner_server.add_rsa_key("new")  # the partner publishes a second key and starts using it
    await asyncio.sleep(0.15)
    assert (await login(client, "sso", partner_server.token("new", sub="u1"))).status == 200
    assert (await login(client, "sso", old_token)).status == 200  # old tokens are fine until removed

    del partner_server.keys["old"]
    partner_server.add_rsa_key("newer")
    await asyncio.sleep(0.15)
    assert (await login(client, "sso", partner_server.token("newer", sub="u1"))).status == 200
    assert (await login(client, "sso", old_token)).status == 401


async def test_forged_kids_cause_at_most_one_refetch_per_interval(start, partner_server, db):
    partner_server.add_rsa_key("k1")
    client = await start(sso=jwks_partner(partner_server, kid_miss_refresh_seconds=60))
    assert (await login(client, "sso", partner_server.token("k1"))).status == 200
    forger = PartnerServer(base_url=partner_server.base_url)

    for n in range(30):
        forger.add_rsa_key(f"forged-{n}")
    answers = await asyncio.gather(*(login(client, "sso", forger.token(f"forged-{n}")) for n in range(30)))

    assert [a.status for a in answers] == [401] * 30
    assert partner_server.jwks_requests == 1  # the first fetch was under 60 s ago: no refetch at all
    assert await db.users.count_documents({}) == 1


async def test_concurrent_kid_misses_share_one_fetch(start, partner_server):
    partner_server.add_rsa_key("k1")
    client = await start(sso=jwks_partner(partner_server, kid_miss_refresh_seconds=0.1))
    assert (await login(client, "sso", partner_server.token("k1"))).status == 200
    partner_server.add_rsa_key("k2")
    await asyncio.sleep(0.15)

    answers = await asyncio.gather(
        *(login(client, "sso", partner_server.token("k2", sub=f"c{n}")) for n in range(20))
    )

    assert [a.status for a in answers] == [200] * 20
    assert partner_server.jwks_requests == 2


async def test_cached_keys_keep_working_through_a_jwks_outage(start, partner_server, caplog):
    partner_server.add_rsa_key("k1")
    client = await start(sso=jwks_partner(partner_server, kid_miss_refresh_seconds=0.1))
    assert (await login(client, "sso", partner_server.token("k1", sub="a"))).status == 200

    partner_server.jwks_status = 503
    await asyncio.sleep(0.15)
    caplog.set_level(logging.WARNING)
    unknown = PartnerServer(base_url=partner_server.base_url)
    unknown.add_rsa_key("k9")
    assert (await login(client, "sso", unknown.token("k9"))).status == 401  # refetch failed
    assert partner_server.jwks_requests == 2
    assert any(r.getMessage().startswith("jwks fetch failed") for r in caplog.records)
    assert (await login(client, "sso", partner_server.token("k1", sub="b"))).status == 200


async def test_no_keys_at_all_is_503_not_500_and_writes_nothing(start, partner_server, db):
    partner_server.add_rsa_key("k1")
    partner_server.jwks_status = 500
    client = await start(sso=jwks_partner(partner_server))

    response = await login(client, "sso", partner_server.token("k1"))

    assert response.status == 503
    assert response.headers["Retry-After"]
    assert (await response.json())["type"] == "/problems/partner-keys-unavailable"
    assert await db.users.count_documents({}) == 0


async def test_oidc_partner_uses_discovery(start, partner_server):
    partner_server.add_rsa_key("k1")
    client = await start(corp=oidc_partner(partner_server))

    response = await login(client, "corp", partner_server.token("k1", sub="emp-7", email="e7@corp.test"))

    assert response.status == 200
    assert (await response.json())["user"]["email"] == "e7@corp.test"
    assert partner_server.discovery_requests == 1 and partner_server.jwks_requests == 1


async def test_oidc_discovery_with_another_issuer_is_refused(start, partner_server, caplog, db):
    partner_server.add_rsa_key("k1")
    partner_server.discovery_issuer = "https://impostor.test"
    client = await start(corp=oidc_partner(partner_server))
    caplog.set_level(logging.WARNING)

    response = await login(client, "corp", partner_server.token("k1"))

    assert response.status == 503
    assert partner_server.jwks_requests == 0  # the jwks_uri of a mismatched document is never used
    assert any("is not the configured" in str(getattr(r, "error", "")) for r in caplog.records)
    assert await db.users.count_documents({}) == 0


def test_cache_control_max_age_is_kept_within_bounds():
    assert cache_seconds({"Cache-Control": "public, max-age=3600"}, 600) == 3600
    assert cache_seconds({"Cache-Control": "max-age=5"}, 600) == 60
    assert cache_seconds({"Cache-Control": "max-age=99999999"}, 600) == 86400
    assert cache_seconds({}, 600) == 600


def test_key_set_parsing_keeps_only_signing_keys_of_allowed_families():
    server = PartnerServer()
    server.add_rsa_key("r")
    server.add_ec_key("e")
    document = server.jwks()
    document["keys"] += [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
        {**document["keys"][0], "kid": "enc", "use": "enc"},
        {**document["keys"][0], "kid": "ps-only", "alg": "PS256"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        "not a key",
    ]
    keys = {key.kid: key.algorithms for key in parse_jwks(document, frozenset({"RS256", "ES256"}))}
    assert keys == {"r": frozenset({"RS256"}), "e": frozenset({"ES256"})}
