"""The `bridge` command: local service-account keys and partner-file checks."""

from __future__ import annotations

import json
import os
import secrets

from firebase_admin import credentials

from bridge.cli.main import main


def test_generated_service_account_loads_in_firebase_admin_and_is_owner_only(tmp_path, capsys):
    out = tmp_path / "local" / "sa.json"
    assert main(["keys", "service-account", "--out", str(out), "--project", "demo-x"]) == 0
    key = json.loads(out.read_text())
    assert key["type"] == "service_account" and key["project_id"] == "demo-x"
    assert key["client_email"] == "bridge-local@demo-x.iam.gserviceaccount.com"
    assert credentials.Certificate(str(out)).project_id == "demo-x"
    assert os.stat(out).st_mode & 0o077 == 0
    assert "BEGIN PRIVATE KEY" not in capsys.readouterr().out


def test_an_existing_key_is_never_overwritten(tmp_path):
    out = tmp_path / "sa.json"
    out.write_text("keep me")
    assert main(["keys", "service-account", "--out", str(out)]) == 1
    assert out.read_text() == "keep me"


def test_partners_check_reports_ok_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLI_SECRET", secrets.token_hex(32))
    good = tmp_path / "good.toml"
    good.write_text(
        '[partners.acme]\nkind = "jwt"\nissuer = "https://a.test"\naudience = "bridge"\n'
        'algorithms = ["HS256"]\nsecret_env = "CLI_SECRET"\n'
    )
    assert main(["partners", "check", str(good)]) == 0
    assert "acme: jwt partner, ok" in capsys.readouterr().out

    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('["HS256"]', '["none"]'))
    assert main(["partners", "check", str(bad)]) == 2
    assert "partner 'acme', field 'algorithms'" in capsys.readouterr().err
