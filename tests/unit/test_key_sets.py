"""JWKS key sets and OIDC discovery on a hand-moved clock: cache expiry, refresh on an unknown kid,
the rate limit on those refreshes, keeping the last good set. Outgoing HTTP is an in-memory fake."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bridge.partners.base import CredentialRejected, KeysUnavailable, RejectReason
from bridge.partners.config import KeySetRules
from bridge.partners.jwks import JwksKeySet
from bridge.partners.oidc import REDISCOVER_AFTER_SECONDS, OidcDiscovery

from .fakes import Clock, FakeOutbound

JWKS_URL = "https://keys.test/jwks"
ISSUER = "https://issuer.test"
RULES = KeySetRules(jwks_cache_seconds=600, kid_miss_refresh_seconds=60)


@pytest.fixture(scope="module")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwks(keys: dict[str, rsa.RSAPrivateKey], *kids: str) -> dict[str, Any]:
    return {"keys": [json.loads(RSAAlgorithm.to_jwk(keys[kid].public_key())) | {"kid": kid} for kid in kids]}


def key_set(outbound: FakeOutbound, clock: Clock) -> JwksKeySet:
    async def url() -> str:
        return JWKS_URL

    return JwksKeySet("unit", url, RULES, ["RS256"], outbound, clock)


def fetches(outbound: FakeOutbound) -> int:
    return outbound.calls.count(("GET", JWKS_URL))


async def test_keys_are_cached_until_max_age_then_fetched_again(keys):
    outbound, clock = (
        FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {"Cache-Control": "max-age=300"})}),
        Clock(),
    )
    key_set_ = key_set(outbound, clock)
    assert (await key_set_.key_for("k1")).kid == "k1"
    clock.advance(299)
    await key_set_.key_for("k1")
    assert fetches(outbound) == 1
    clock.advance(1)
    await key_set_.key_for("k1")
    assert fetches(outbound) == 2


async def test_without_max_age_the_partners_cache_seconds_apply(keys):
    outbound, clock = FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {})}), Clock()
    key_set_ = key_set(outbound, clock)
    await key_set_.key_for("k1")
    clock.advance(599)
    await key_set_.key_for("k1")
    assert fetches(outbound) == 1
    clock.advance(1)
    await key_set_.key_for("k1")
    assert fetches(outbound) == 2


async def test_an_unknown_kid_refetches_and_finds_a_rotated_key(keys):
    outbound, clock = FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {})}), Clock()
    key_set_ = key_set(outbound, clock)
    await key_set_.key_for("k1")
    outbound.gets[JWKS_URL] = (jwks(keys, "k1", "k2"), {})
    clock.advance(61)  # past the refresh rate limit, well within the cache time
    assert (await key_set_.key_for("k2")).kid == "k2"
    assert fetches(outbound) == 2


async def test_unknown_kids_refetch_at_most_once_per_refresh_interval(keys):
    outbound, clock = FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {})}), Clock()
    key_set_ = key_set(outbound, clock)
    await key_set_.key_for("k1")
    clock.advance(61)
    for _ in range(5):  # forged kids: one refetch, then refusals without fetching
        with pytest.raises(CredentialRejected) as refused:
            await key_set_.key_for("forged")
        assert refused.value.code is RejectReason.UNKNOWN_KEY
    assert fetches(outbound) == 2
    clock.advance(60)
    with pytest.raises(CredentialRejected):
        await key_set_.key_for("forged")
    assert fetches(outbound) == 3


async def test_a_failed_fetch_keeps_the_last_good_key_set(keys):
    outbound, clock = FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {})}), Clock()
    key_set_ = key_set(outbound, clock)
    await key_set_.key_for("k1")
    outbound.down = True
    clock.advance(601)  # expired: a refetch is tried and fails
    assert (await key_set_.key_for("k1")).kid == "k1"
    assert fetches(outbound) == 2


async def test_without_any_key_set_verification_is_unavailable_not_refused():
    key_set_ = key_set(FakeOutbound(down=True), Clock())
    with pytest.raises(KeysUnavailable):
        await key_set_.key_for("k1")


async def test_a_token_without_kid_uses_the_only_key_but_not_one_of_several(keys):
    outbound, clock = FakeOutbound(gets={JWKS_URL: (jwks(keys, "k1"), {})}), Clock()
    assert (await key_set(outbound, clock).key_for(None)).kid == "k1"
    outbound.gets[JWKS_URL] = (jwks(keys, "k1", "k2"), {})
    with pytest.raises(CredentialRejected) as refused:
        await key_set(outbound, clock).key_for(None)
    assert str(refused.value) == "token has no kid"


# --- OIDC discovery ----------------------------------------------------------------------------------
DISCOVERY_URL = ISSUER + "/.well-known/openid-configuration"


async def test_discovery_gives_the_jwks_uri_and_caches_it_for_a_day():
    outbound, clock = (
        FakeOutbound(gets={DISCOVERY_URL: ({"issuer": ISSUER, "jwks_uri": JWKS_URL}, {})}),
        Clock(),
    )
    discovery = OidcDiscovery(ISSUER, outbound, 5, clock)
    assert await discovery.jwks_uri() == JWKS_URL
    clock.advance(REDISCOVER_AFTER_SECONDS)
    await discovery.jwks_uri()
    assert outbound.calls == [("GET", DISCOVERY_URL)]
    clock.advance(1)
    await discovery.jwks_uri()
    assert outbound.calls == [("GET", DISCOVERY_URL)] * 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"issuer": "https://evil.test", "jwks_uri": JWKS_URL}, "is not the configured"),
        ({"issuer": ISSUER}, "has no jwks_uri"),
        ({"issuer": ISSUER, "jwks_uri": "http://keys.test/jwks"}, "must use https"),
    ],
    ids=["other-issuer", "no-jwks-uri", "plain-http"],
)
async def test_a_discovery_document_that_does_not_check_out_is_refused(document, message):
    discovery = OidcDiscovery(ISSUER, FakeOutbound(gets={DISCOVERY_URL: (document, {})}), 5, Clock())
    with pytest.raises(ValueError, match=message):
        await discovery.jwks_uri()
