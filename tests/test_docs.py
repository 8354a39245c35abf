"""The configuration reference documents every setting and every partners-file field."""

from __future__ import annotations

from bridge.partners.config import PARTNER_KINDS
from bridge.settings import Settings

from stack import ROOT

REFERENCE = (ROOT / "docs" / "configuration.md").read_text()


def test_every_environment_setting_is_documented():
    missing = [
        f"BRIDGE_{name.upper()}"
        for name in Settings.model_fields
        if name != "partners" and f"`BRIDGE_{name.upper()}`" not in REFERENCE
    ]
    assert missing == []


def test_every_partner_field_is_documented():
    missing = [
        f"{kind}.{name}"
        for kind, model in PARTNER_KINDS.items()
        for name in model.model_fields
        if f"| `{name}` |" not in REFERENCE
    ]
    assert missing == []


def test_the_example_partners_file_is_valid(tmp_path, monkeypatch):
    import secrets

    from bridge.partners.config import load_partners_file

    example = REFERENCE.split("## A complete example", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    (tmp_path / "partners.toml").write_text(example)
    monkeypatch.setenv("ACME_JWT_SECRET", secrets.token_hex(32))
    assert set(load_partners_file(tmp_path / "partners.toml")) == {"acme", "corp", "shop"}
