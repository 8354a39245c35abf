"""A token's header is the presenter's own text, read before any signature is checked: no part of it
reaches a log line (a reason names the rule that failed, never the value that broke it). Found from
outside: a `crit` entry or a `kid` of any length was logged verbatim with every refused login."""

from __future__ import annotations

import logging

import pytest

MARKER = "attacker-text-7c1e9f3a0b2d"


CASES = [
    ("acme", {"crit": [MARKER]}),
    ("acme", {"crit": ["b64", MARKER], "b64": True}),
    ("acme", {"crit": [MARKER], MARKER: 1}),
    ("sso", {"crit": [MARKER]}),
    ("sso", {"kid": MARKER}),
    ("sso", {"kid": MARKER * 100}),
]


@pytest.mark.parametrize(("partner", "header"), CASES)
async def test_refused_header_values_never_reach_the_log(
    start_with_partners, partner_server, keys, caplog, partner, header
):
    partner_server.add_rsa_key("k1")
    client = await start_with_partners(sso=partner_server.jwks_partner())
    token = (
        keys.token("acme", headers=header)
        if partner == "acme"
        else partner_server.token("k1", headers=header)
    )

    with caplog.at_level(logging.INFO):
        answer = await client.post("/v1/login", json={"partner": partner, "token": token})

    assert answer.status == 401
    logged = [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    assert any("login rejected" in line for line in logged)
    assert not [line for line in logged if MARKER[:12] in line]
