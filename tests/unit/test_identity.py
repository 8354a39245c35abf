"""uid derivation and developer claims."""

from __future__ import annotations

import hashlib

import pytest

from bridge.identity import ClaimsTooLarge, ExternalIdentity, claim_value, developer_claims, federated_uid


def test_default_uid_is_partner_colon_external_id():
    assert federated_uid("acme", "u-1") == "acme:u-1"


def test_uid_format_is_applied():
    assert federated_uid("acme", "u-1", "{external_id}") == "u-1"
    assert federated_uid("acme", "u-1", "ext_{partner}_{external_id}") == "ext_acme_u-1"


def test_uid_of_exactly_128_characters_is_kept_and_longer_ones_hashed():
    exact = "e" * (128 - len("acme:"))
    assert federated_uid("acme", exact) == f"acme:{exact}"
    longer = exact + "e"
    expected = "acme:sha256:" + hashlib.sha256(longer.encode()).hexdigest()
    assert federated_uid("acme", longer) == expected


def test_claim_value_prefers_exact_keys_then_walks_dots():
    claims = {"https://x.test/roles": ["a"], "address": {"country": "NL"}, "a.b": 1, "a": {"b": 2}}
    assert claim_value(claims, "https://x.test/roles") == ["a"]
    assert claim_value(claims, "address.country") == "NL"
    assert claim_value(claims, "a.b") == 1
    assert claim_value(claims, "address.city") is None
    assert claim_value(claims, "address.country.code") is None


def test_developer_claims_map_present_claims_over_static_ones():
    identity = ExternalIdentity("acme", "u", claims={"role": "x", "org": {"id": 7}})
    claims = developer_claims(
        identity, {"role": "role", "org_id": "org.id", "absent": "nope"}, {"via": "acme", "role": "default"}
    )
    assert claims == {"via": "acme", "role": "x", "org_id": 7}


def test_developer_claims_over_1000_bytes_are_refused():
    identity = ExternalIdentity("acme", "u", claims={"blob": "é" * 495})  # 990 bytes in UTF-8
    with pytest.raises(ClaimsTooLarge):
        developer_claims(identity, {"blob": "blob"}, {})
    small = ExternalIdentity("acme", "u", claims={"blob": "é" * 480})
    assert developer_claims(small, {"blob": "blob"}, {})["blob"] == "é" * 480
