"""The partners file's `kind` picks the class, and the class carries the behaviour: which credential
a request must present, redirect and admin rules, single use. Parsed settings only, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.partners.base import CredentialIncomplete, PartnerToken, PasswordLogin, Presented
from bridge.partners.config import (
    JwtPartnerConfig,
    OidcPartnerConfig,
    PartnerConfig,
    PasswordPartnerConfig,
    parse_partners,
)

TABLES: dict[str, dict[str, Any]] = {
    "jwt": {"kind": "jwt", "secret_env": "S", "issuer": "i", "audience": "a", "algorithms": ["HS256"]},
    "oidc": {"kind": "oidc", "issuer": "https://accounts.test", "audience": "a"},
    "password": {"kind": "password", "login_url": "https://login.test/auth"},
}


def parsed(kind: str, **settings: Any) -> PartnerConfig:
    return parse_partners({"partners": {"p": TABLES[kind] | settings}}, "unit.toml", Path("/etc/bridge"))["p"]


def test_each_kind_parses_to_its_own_class():
    assert type(parsed("jwt")) is JwtPartnerConfig
    assert type(parsed("oidc")) is OidcPartnerConfig
    assert type(parsed("password")) is PasswordPartnerConfig


def test_relative_key_files_are_resolved_against_the_partners_file():
    config = parsed("jwt", secret_env=None, secret_file="keys/acme.secret")
    assert isinstance(config, JwtPartnerConfig) and config.secret_file == Path("/etc/bridge/keys/acme.secret")


def test_a_token_partner_takes_the_token_from_the_body_or_the_bearer_header():
    config = parsed("jwt")
    assert config.credential_from(Presented("Partner 'p'", token="t")) == PartnerToken("t")
    assert config.credential_from(Presented("Partner 'p'", bearer="t")) == PartnerToken("t")
    assert config.credential_from(Presented("Partner 'p'", token="t", bearer="t")) == PartnerToken("t")


@pytest.mark.parametrize(
    ("presented", "message"),
    [
        (Presented("Partner 'p'"), "A token is required (body field `token` or `Authorization: Bearer`)."),
        (Presented("This route", names={"token": "jwt"}), "A token is required (body field `jwt` or"),
        (
            Presented("Partner 'p'", token="a", bearer="b"),
            "Send the token in the body or in the Authorization",
        ),
        (Presented("Partner 'p'", username="u", password="p"), "Partner 'p' takes a `token`, not a username"),
    ],
    ids=["missing", "renamed-field", "two-different", "password-given"],
)
def test_a_token_partner_says_what_to_send(presented, message):
    with pytest.raises(CredentialIncomplete) as incomplete:
        parsed("jwt").credential_from(presented)
    assert str(incomplete.value).startswith(message)


def test_a_password_partner_takes_username_and_password_under_the_routes_names():
    config = parsed("password")
    assert config.credential_from(Presented("x", username="ann", password="pw")) == PasswordLogin("ann", "pw")
    with pytest.raises(CredentialIncomplete) as incomplete:
        config.credential_from(Presented("This route", username="ann", names={"username": "email"}))
    assert str(incomplete.value) == "This route takes `email` and `password`."
    with pytest.raises(CredentialIncomplete):
        config.credential_from(Presented("Partner 'p'", username="ann", password="pw", token="t"))


def test_a_password_is_never_shown_by_repr():
    assert "hunter2" not in repr(PasswordLogin("ann", "hunter2"))
    assert "hunter2" not in repr(Presented("x", username="ann", password="hunter2"))


def test_redirect_admin_and_single_use_rules_belong_to_token_kinds():
    jwt_partner = parsed("jwt", single_use=True, leeway_seconds=5, admin_claims={"role": "admin"})
    assert jwt_partner.redirect_rules() is jwt_partner
    assert (jwt_partner.is_single_use, jwt_partner.token_leeway_seconds) == (True, 5)
    assert jwt_partner.admin_requirements == {"role": "admin"}
    password = parsed("password")
    assert password.redirect_rules() is None
    assert (password.is_single_use, password.token_leeway_seconds, password.admin_requirements) == (
        False,
        0,
        {},
    )


def test_password_partners_reserve_a_username_and_an_address_counter():
    counters = parsed("password", max_failures_per_user=3).failure_counters(
        "p", PasswordLogin(" Ann", "x"), "10.0.0.1"
    )
    assert [(c.key, c.limit) for c in counters] == [("user:p:ann", 3), ("address:p:10.0.0.1", 50)]
    assert parsed("jwt").failure_counters("p", PartnerToken("t"), "10.0.0.1") == []


def test_relaxed_iss_aud_is_reported_for_start_up_logging():
    assert parsed("jwt", require_issuer=False).relaxed_claims() == ["require_issuer"]
    assert parsed("jwt").relaxed_claims() == []
