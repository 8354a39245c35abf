"""A wrong partners file fails at start-up with a message naming the partner and the field."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from bridge.partners.config import ConfigError, load_partners_file, parse_partners
from bridge.partners.keys import check_partner_keys


def partner(**fields: Any) -> dict[str, Any]:
    base = {
        "kind": "jwt",
        "issuer": "https://p.test",
        "audience": "bridge",
        "algorithms": ["HS256"],
        "secret_env": "P_SECRET",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def build(table: dict[str, Any], base_dir: Path = Path(".")) -> Any:
    configs = parse_partners({"partners": {"p1": table}}, "partners.toml", base_dir)
    check_partner_keys(configs)
    return configs


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P_SECRET", secrets.token_hex(32))


BAD = {
    "alg none": (partner(algorithms=["none"]), "field 'algorithms'", "'none' is never allowed"),
    "unknown alg": (partner(algorithms=["HS1"]), "field 'algorithms'", "unsupported algorithm"),
    "empty allow-list": (partner(algorithms=[]), "field 'algorithms'", "at least 1"),
    "RS with a secret": (partner(algorithms=["RS256"]), "partner 'p1'", "only HS256"),
    "no key": (partner(secret_env=None), "partner 'p1'", "exactly one of"),
    "two keys": (partner(secret_file="x"), "partner 'p1'", "exactly one of"),
    "reserved claim": (partner(claims={"sub": "x"}), "field 'claims'", "reserved claim names"),
    "reserved static claim": (partner(static_claims={"firebase": 1}), "field 'static_claims'", "reserved"),
    "missing issuer": (partner(issuer=None), "field 'issuer'", "Field required"),
    "typo in a field": (partner(audiance="x"), "field 'audiance'", "Extra inputs"),
    "no kind": (partner(kind=None), "field 'kind'", "must be one of"),
    "uid without external id": (partner(uid_format="{partner}"), "field 'uid_format'", "{external_id}"),
    "leeway too large": (partner(leeway_seconds=3600), "field 'leeway_seconds'", "less than or equal"),
}


@pytest.mark.parametrize("name", BAD)
def test_invalid_partner_tables_name_partner_and_field(name):
    table, where, what = BAD[name]
    with pytest.raises(ConfigError) as error:
        build(table)
    assert where in str(error.value) and what in str(error.value)
    assert "partners.toml" in str(error.value)


def test_missing_secret_env_var(monkeypatch):
    monkeypatch.delenv("P_SECRET")
    with pytest.raises(ConfigError, match="partner 'p1', field 'secret_env': environment variable P_SECRET"):
        build(partner())


def test_short_secrets_are_refused_without_quoting_them(monkeypatch):
    monkeypatch.setenv("P_SECRET", "short-secret")
    with pytest.raises(ConfigError, match="at least 32 bytes") as error:
        build(partner())
    assert "short-secret" not in str(error.value)


def test_public_key_must_match_its_algorithms(tmp_path, keys):
    from partner_tokens import _pem_public

    (tmp_path / "ec.pem").write_text(_pem_public(keys.ec_key))
    with pytest.raises(ConfigError, match="field 'algorithms': an RSA key allows only"):
        build(partner(secret_env=None, public_key=_pem_public(keys.rsa_key), algorithms=["ES256"]))
    with pytest.raises(ConfigError, match="cannot verify ES384"):
        build(partner(secret_env=None, public_key_file="ec.pem", algorithms=["ES384"]), tmp_path)
    with pytest.raises(ConfigError, match="never allows HS"):
        build(partner(secret_env=None, public_key_file="ec.pem", algorithms=["ES256", "HS256"]))
    with pytest.raises(ConfigError, match="not a PEM public key"):
        build(partner(secret_env=None, public_key="-----BEGIN NOTHING-----", algorithms=["RS256"]))


def test_relative_key_paths_resolve_against_the_partners_file(tmp_path, keys):
    from partner_tokens import _pem_public

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "rsa.pem").write_text(_pem_public(keys.rsa_key))
    (tmp_path / "partners.toml").write_text(
        '[partners.rsa]\nkind = "jwt"\nissuer = "https://rsa.test"\naudience = "bridge"\n'
        'algorithms = ["RS256", "PS256"]\npublic_key_file = "keys/rsa.pem"\n'
    )
    partners = load_partners_file(tmp_path / "partners.toml")
    check_partner_keys(partners)
    assert list(partners) == ["rsa"]


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_partners_file(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[partners.x\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_partners_file(tmp_path / "bad.toml")
    (tmp_path / "bad-id.toml").write_text('[partners."Bad Id"]\nkind = "jwt"\n')
    with pytest.raises(ConfigError, match="partner 'Bad Id': ids are"):
        load_partners_file(tmp_path / "bad-id.toml")


def test_every_error_in_a_file_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        parse_partners(
            {"partners": {"a": partner(algorithms=["none"]), "b": partner(kind="x")}},
            "partners.toml",
            Path("."),
        )
    assert "partner 'a'" in str(error.value) and "partner 'b'" in str(error.value)
