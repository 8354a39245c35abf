"""Property-based fuzzing of the served /openapi.json with schemathesis, over every operation, with a
live credential for every auth kind: no server error, and no answer the document does not allow."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import aiohttp
from every_credential import credentials, serve_bridge, signed_in

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = int(os.environ.get("BRIDGE_FUZZ_EXAMPLES", "12"))


def config(schemes: dict[str, dict[str, str]]) -> str:
    """schemathesis.toml with these credentials per security scheme. An operation is fuzzed with the
    first of its documented schemes the run has a credential for (OpenAPI's order), so the runs
    split the kinds between them."""
    lines = [
        "[checks.positive_data_acceptance]",
        # 400 too: fuzz_hooks holds each such 400 to the rules the schema cannot state.
        'expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]',
    ]
    for name, values in schemes.items():
        lines.append(f"[auth.openapi.{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


async def fuzz(base: str, config_file: Path, report: Path, *selection: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "--config-file",
        str(config_file),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "1",
        "--no-color",
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        *selection,
        cwd=report.parent,  # its caches and reports stay out of the work tree
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "fuzz_hooks",
            "PYTHONPATH": str(Path(__file__).parent),
            "SCHEMATHESIS_TELEMETRY": "false",
            "NO_COLOR": "1",
        },
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_fuzzing_every_operation_finds_no_server_error_and_no_contract_violation(
    make_settings, partner_server, keys, db, fcm, tmp_path
):
    server = await serve_bridge(
        make_settings,
        partner_server,
        fcm_url=fcm.base_url,
        fcm_token_url=f"{fcm.base_url}/token",
    )
    try:
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as session:
            creds = await credentials(session, base, db, keys, partner_server)
            leaving, leaving_cookie = await signed_in(session, base, keys.token(sub="leaving"))
        # Each run offers some auth kinds; together they cover every kind. The coverage phase
        # (boundary and negative values of every field) runs once; random fuzzing with every kind.
        # Logout revokes its user's sessions: it runs on its own, with a user of its own, so the
        # other user routes keep a live session. About a minute on two cores.
        everything, fuzzing = ("--phases", "examples,coverage,fuzzing"), ("--phases", "fuzzing")
        not_logout, logout = ("--exclude-path", "/v1/logout"), ("--include-path", "/v1/logout")
        admin_only = ("--include-tag", "admin", "--include-tag", "admin page")
        bearer_key = {"apiKey": {"bearer": creds.api_key}}
        header_key = {"apiKeyHeader": {"api_key": creds.api_key}}
        runs = [
            ({**bearer_key, "idToken": {"bearer": creds.id_token}}, (*not_logout, *everything)),
            ({**header_key, "sessionCookie": {"api_key": creds.session_cookie}}, (*not_logout, *fuzzing)),
            ({"adminPartnerToken": {"bearer": creds.admin_jwt}}, (*admin_only, *fuzzing)),
            ({"adminCookie": {"api_key": creds.admin_jwt}}, (*admin_only, *fuzzing)),
            ({"idToken": {"bearer": leaving["id_token"]}}, (*logout, *everything)),
            ({"sessionCookie": {"api_key": leaving_cookie}}, (*logout, *everything)),
        ]
        results = []
        for index, (schemes, selection) in enumerate(runs):  # one at a time: they share 2 cores
            config_file = tmp_path / f"schemathesis-{index}.toml"
            config_file.write_text(config(schemes))
            results.append(await fuzz(base, config_file, tmp_path / f"events-{index}.ndjson", *selection))
    finally:
        await server.close()
    generated = 0
    for returncode, output in results:
        assert returncode == 0, output[-20000:]
        generated += int(re.search(r"(\d+) generated, \1 passed", output).group(1))  # type: ignore[union-attr]
    print(f"schemathesis: {generated} generated cases, all passed")
    assert generated >= 2 * 30 * MAX_EXAMPLES  # every operation was fuzzed, not skipped
