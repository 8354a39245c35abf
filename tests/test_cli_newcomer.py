"""A newcomer's commands work as printed: the CLI reads the env file scripts/run writes, every CLI
error is one line saying what to set (never a traceback), and the text log shows every field."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.infra.logs import TextFormatter

from dev import write_env_file
from stack import ROOT, free_port


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`bridge ...` as a person types it, with only the given environment."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def stack_env(
    tmp_path, mongodb_uri, database_name, service_account_file, auth_emulator_host
) -> dict[str, str]:
    partners = tmp_path / "partners.toml"
    partners.write_text(
        '[partners.demo]\nkind = "jwt"\nissuer = "https://demo.test"\naudience = "b"\n'
        'algorithms = ["HS256"]\nsecret_file = "demo.secret"\n'
    )
    (tmp_path / "demo.secret").write_text(os.urandom(32).hex())
    return {
        "BRIDGE_MONGODB_URI": mongodb_uri,
        "BRIDGE_MONGODB_DATABASE": database_name,
        "BRIDGE_PARTNERS_FILE": str(partners),
        "BRIDGE_SERVICE_ACCOUNT_FILE": str(service_account_file),
        "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator_host,
    }


async def test_the_cli_reads_the_env_file_scripts_run_writes(tmp_path, stack_env, database_name, db):
    (tmp_path / "local").mkdir()
    write_env_file(tmp_path / "local" / "bridge.env", {**stack_env, "BRIDGE_MONGODB_DATABASE": database_name})
    sourced = subprocess.run(
        ["bash", "-c", '. local/bridge.env && printf %s "$BRIDGE_MONGODB_URI"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert sourced.stdout == stack_env["BRIDGE_MONGODB_URI"]  # a shell reads it the same way

    created = run_cli("api-keys", "create", "--name", "newcomer", "--scope", "admin", env={}, cwd=tmp_path)
    listed = run_cli("api-keys", "list", env={}, cwd=tmp_path)

    assert created.returncode == 0, created.stderr
    assert listed.returncode == 0 and "newcomer" in listed.stdout
    assert await db.api_keys.count_documents({"name": "newcomer"}) == 1


async def test_bridge_env_file_names_another_file_and_the_environment_wins(
    tmp_path, stack_env, database_name
):
    other = tmp_path / "elsewhere.env"
    write_env_file(other, {**stack_env, "BRIDGE_MONGODB_URI": "mongodb://127.0.0.1:1"})
    result = run_cli(
        "api-keys",
        "list",
        env={
            "BRIDGE_ENV_FILE": str(other),
            "BRIDGE_MONGODB_URI": stack_env["BRIDGE_MONGODB_URI"],
            "BRIDGE_MONGODB_DATABASE": database_name,
        },
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    stale = run_cli(
        "api-keys",
        "list",
        env={"BRIDGE_ENV_FILE": str(other), "BRIDGE_MONGODB_TIMEOUT_MS": "300"},
        cwd=tmp_path,
    )
    assert f"read from {other}" in assert_one_line(stale)  # a file left by a stopped stack is named
    missing = run_cli("api-keys", "list", env={"BRIDGE_ENV_FILE": str(tmp_path / "nope.env")}, cwd=tmp_path)
    assert "BRIDGE_ENV_FILE" in assert_one_line(missing)


def test_unreachable_mongodb_is_one_line_naming_the_variable(tmp_path):
    uri = f"mongodb://bridge:hunter22@127.0.0.1:{free_port()}"
    result = run_cli(
        "api-keys", "list", env={"BRIDGE_MONGODB_URI": uri, "BRIDGE_MONGODB_TIMEOUT_MS": "300"}, cwd=tmp_path
    )
    line = assert_one_line(result)
    assert "BRIDGE_MONGODB_URI" in line and "hunter22" not in line


def test_a_wrong_setting_is_one_line_naming_it(tmp_path):
    line = assert_one_line(
        run_cli("api-keys", "list", env={"BRIDGE_MONGODB_TIMEOUT_MS": "soon"}, cwd=tmp_path)
    )
    assert "BRIDGE_MONGODB_TIMEOUT_MS" in line


async def test_admin_cli_without_the_emulator_host_is_one_line_naming_it(
    tmp_path, stack_env, database_name, db
):
    await db.users.insert_one({"uid": "demo:a", "partner": "demo", "external_id": "a"})
    env = {k: v for k, v in stack_env.items() if k != "FIREBASE_AUTH_EMULATOR_HOST"}
    result = run_cli(
        "admin", "users", "list", env={**env, "BRIDGE_MONGODB_DATABASE": database_name}, cwd=tmp_path
    )
    assert "FIREBASE_AUTH_EMULATOR_HOST" in assert_one_line(result)


def test_text_log_lines_show_every_field_and_the_duration():
    formatter = TextFormatter()

    def line(name: str, message: str, *args: Any, **extra: Any) -> str:
        record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
        record.__dict__.update(extra)
        return formatter.format(record)

    rejected = line("bridge.login", "login rejected", partner="demo", reason="expired", request_id="r1")
    access = line(
        "bridge.access",
        "%s %s %d",
        "POST",
        "/v1/login",
        401,
        method="POST",
        path="/v1/login",
        status=401,
        duration_ms=3.25,
        request_id="r1",
    )
    assert rejected.endswith("bridge.login login rejected partner=demo reason=expired [r1]")
    assert access.endswith("bridge.access POST /v1/login 401 duration_ms=3.25 [r1]")
    spaced = line("bridge.x", "m", reason="Signature has expired")
    assert spaced.endswith('m reason="Signature has expired"')


def test_scripts_run_prints_the_admin_page_docs_and_cli():
    from dev import try_it

    text = try_it(8181)
    assert "http://127.0.0.1:8181/admin" in text and "http://127.0.0.1:8181/docs" in text
    assert "bridge api-keys list" in text and (ROOT / "scripts" / "run").exists()


def test_the_printed_push_demo_command_targets_the_port_scripts_run_printed():
    """`scripts/run --port P` prints the push demo's command; run as printed it must talk to P (it
    used to go to 8080 and die with a traceback), and a bridge that does not answer is one line."""
    from dev import try_it

    port = free_port()  # nothing listens there: the command's one-line error names where it went
    printed = [line.strip() for line in try_it(port).splitlines() if "demo_push.py" in line]
    assert printed == [f".venv/bin/python scripts/demo_push.py --port {port}"]

    result = subprocess.run(
        [sys.executable, *printed[0].split()[1:]],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    line = assert_one_line(result)
    assert line.startswith(f"demo_push: bridge does not answer at http://127.0.0.1:{port} ")


def test_scripts_run_serves_the_partners_file_the_newcomer_names(monkeypatch):
    """`BRIDGE_PARTNERS_FILE=examples/platforms/flutterflow/partners.toml scripts/run` used to serve
    the demo partner silently; it serves the named file, and says the demo commands need the demo."""
    from dev import DEMO_PARTNERS_FILE, partners_file, try_it

    monkeypatch.chdir(ROOT)  # scripts/run runs from the repository

    example = ROOT / "examples" / "platforms" / "flutterflow" / "partners.toml"
    named = partners_file({"BRIDGE_PARTNERS_FILE": "examples/platforms/flutterflow/partners.toml"})
    text = try_it(8181, named)

    assert partners_file({}) == DEMO_PARTNERS_FILE
    assert named == example.resolve()
    assert str(example) in text and "demo_token.py" not in text and "demo_push.py" not in text
    assert "http://127.0.0.1:8181/admin" in text and "bridge api-keys list" in text


def test_bridge_serve_on_a_taken_port_is_one_line_and_exits(tmp_path, stack_env):
    """A port already in use: `bridge serve` used to hang silently forever (the push worker, started
    before the bind failed, kept the process alive); it is one line saying what to set."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--port", str(port), env=stack_env, cwd=tmp_path)

    line = assert_one_line(result)
    assert line == (
        f"bridge: configuration error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "pass --port or set BRIDGE_PORT to a free port"
    )


def test_workers_on_a_taken_port_stop_instead_of_restarting_forever(tmp_path, stack_env):
    """With --workers, each worker failed to bind and the supervisor restarted it, forever."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--workers", "2", "--port", str(port), env=stack_env, cwd=tmp_path)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr
    assert "starting another" not in result.stderr


def test_bridge_env_file_naming_a_directory_says_so(tmp_path):
    """`BRIDGE_ENV_FILE=/dev/null` or a folder was reported as not existing."""
    for named in (str(tmp_path), os.devnull):
        result = run_cli("api-keys", "list", env={"BRIDGE_ENV_FILE": named}, cwd=tmp_path)
        assert assert_one_line(result) == (
            f"bridge: configuration error: BRIDGE_ENV_FILE={named} is not a regular file"
        )
