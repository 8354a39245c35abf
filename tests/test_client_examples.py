"""The JavaScript client example runs for real: Firebase JS SDK 12.19.0 against the Auth emulator."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from conftest import PROJECT_ID
from stack import ROOT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")


async def test_js_example_logs_in_signs_in_and_calls_me(client, keys, auth_emulator_host):
    env = {
        **os.environ,
        "BRIDGE_URL": str(client.make_url("")).rstrip("/"),
        "PARTNER": "acme",
        "PARTNER_TOKEN": keys.token(sub="js-user", role="editor"),
        "FIREBASE_API_KEY": "test-web-api-key",
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator_host,
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "examples" / "js" / "login.mjs"),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    assert result["uid"] == "acme:js-user"
    assert result["claims"]["role"] == "editor" and result["claims"]["via"] == "acme"
    assert result["me_status"] == 200 and result["me"]["user"]["uid"] == "acme:js-user"
