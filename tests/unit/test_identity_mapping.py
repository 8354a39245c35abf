"""From a verified credential to a Firebase identity: uid, developer claims and the email rules,
as the partners file configures them. Pure functions and parsed settings only."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jwt
import pytest

from bridge.identity import (
    ClaimsTooLarge,
    ExternalIdentity,
    check_claims,
    claims_size,
    federated_uid,
    normalised_email,
    unmatched_claim,
    unverified_text_claim,
)
from bridge.partners import Partner
from bridge.partners.base import CredentialRejected, RejectReason
from bridge.partners.claims import IdentityPaths, identity_from
from bridge.partners.config import parse_partners

from .fakes import FakeOutbound


def partner(**settings: Any) -> Partner:
    table = {
        "kind": "jwt",
        "jwks_url": "https://keys.test/jwks",
        "issuer": "i",
        "audience": "a",
        "algorithms": ["RS256"],
    }
    config = parse_partners({"partners": {"acme": table | settings}}, "unit", Path("."))["acme"]
    return Partner("acme", config, config.build_verifier("acme", FakeOutbound()))  # type: ignore[arg-type]


def test_a_formatted_uid_that_looks_like_a_fallback_uid_is_hashed():
    external_id = "sha256:" + "0" * 64
    assert (
        federated_uid("acme", external_id)
        == "acme:sha256:" + hashlib.sha256(external_id.encode()).hexdigest()
    )


def test_the_partner_formats_its_uids_with_its_uid_format():
    assert partner(uid_format="ext_{external_id}").uid_for(ExternalIdentity("acme", "u-7")) == "ext_u-7"


def test_developer_claims_come_from_static_values_and_mapped_claims():
    acme = partner(claims={"role": "org.role"}, static_claims={"tier": "gold", "role": "none"})
    identity = ExternalIdentity("acme", "u", claims={"org": {"role": "admin"}})
    assert acme.developer_claims(identity) == {"tier": "gold", "role": "admin"}


def test_developer_claims_over_1000_bytes_refuse_the_login():
    acme = partner(claims={"blob": "blob"})
    with pytest.raises(ClaimsTooLarge):
        acme.developer_claims(ExternalIdentity("acme", "u", claims={"blob": "x" * 1000}))


def test_claims_checks_name_reserved_claims_and_size():
    with pytest.raises(ValueError, match="reserved claim names: exp, sub"):
        check_claims({"sub": 1, "exp": 2, "ok": 3})
    assert claims_size({"a": "é"}) == len('{"a":"é"}'.encode())
    with pytest.raises(ValueError, match="at most 1000"):
        check_claims({"a": "x" * 1000})


def test_email_domains_are_always_folded_local_parts_by_default():
    assert normalised_email(" Ann@Example.COM ") == "ann@example.com"
    assert normalised_email("Ann@Example.COM", casefold_local_part=False) == "Ann@example.com"
    assert normalised_email("not-an-email") == "not-an-email"


def test_a_partner_whose_ids_are_emails_stores_them_normalised():
    by_email = partner(user_id_claim="email", casefold_email_local_part=False)
    assert by_email.ids_are_emails
    assert by_email.external_id_of("Ann@Example.COM") == "Ann@example.com"
    assert not partner().ids_are_emails
    assert partner().external_id_of("Ann@Example.COM") == "Ann@Example.COM"


def test_identity_from_reads_the_configured_paths_and_normalises_emails():
    paths = IdentityPaths(
        "user.id", "user.email", "user.name", id_is_email=False, casefold_email_local_part=True
    )
    answer = {"user": {"id": 42, "email": "Ann@X.TEST", "name": "Ann"}}
    identity = identity_from("p", paths, answer, {"kept": True})
    assert (identity.external_id, identity.email, identity.display_name) == ("42", "ann@x.test", "Ann")
    assert identity.claims == {"kept": True}


def test_identity_from_refuses_a_missing_or_oversized_user_id():
    paths = IdentityPaths("sub", None, None, id_is_email=False, casefold_email_local_part=True)
    for claims in ({}, {"sub": True}, {"sub": "x" * 1025}):
        with pytest.raises(CredentialRejected) as refused:
            identity_from("p", paths, claims, claims)
        assert refused.value.code is RejectReason.IDENTITY


def test_the_one_of_matcher_compares_types_strictly():
    rules = {"role": ["admin", "owner"], "active": True}
    assert unmatched_claim({"role": "owner", "active": True}, rules) is None
    assert unmatched_claim({"role": "owner", "active": 1}, rules) == "active"
    assert unmatched_claim({"role": ["admin"], "active": True}, rules) == "role"
    assert unmatched_claim({"active": True}, rules) == "role"


def test_admin_claims_make_a_partner_token_an_admin_credential():
    admins = partner(admin_claims={"groups.admin": True})
    assert admins.grants_admin and not partner().grants_admin
    assert admins.is_admin({"groups": {"admin": True}})
    assert not admins.is_admin({"groups": {"admin": "true"}})
    assert not partner().is_admin({})


def test_unverified_claims_are_read_only_as_text():
    token = jwt.encode({"tenant_id": "t-1", "n": 5}, "k" * 32, algorithm="HS256")
    assert unverified_text_claim(token, "tenant_id") == "t-1"
    assert unverified_text_claim(token, "n") is None
    assert unverified_text_claim("not-a-jwt", "tenant_id") is None
