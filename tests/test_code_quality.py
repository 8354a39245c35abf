"""ruff and mypy are part of the suite: a lint or type error fails the build like any other test."""

from __future__ import annotations

import subprocess
import sys

from stack import ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_bridge():
    result = run("mypy", "bridge")
    assert result.returncode == 0, result.stdout + result.stderr
