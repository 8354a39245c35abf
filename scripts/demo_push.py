"""End-to-end push demo against the stack `scripts/run` started: alice logs in with a session,
registers a phone, a backend sends her a notification by user reference, and the report is printed.
The local FCM sink prints what the phone receives in the `scripts/run` terminal.

    .venv/bin/python scripts/demo_push.py [--port 8080]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from demo_token import DEMO_SECRET_FILE, demo_token
from dev import DEMO_API_KEY_FILE

BASE = f"http://127.0.0.1:{os.environ.get('BRIDGE_PORT', '8080')}"  # --port sets it


def call(method: str, path: str, body: dict[str, Any] | None = None, bearer: str | None = None) -> Any:
    request = urllib.request.Request(
        f"{BASE}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {bearer}"} if bearer else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise SystemExit(f"demo_push: {method} {BASE}{path} answered {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SystemExit(
            f"demo_push: bridge does not answer at {BASE} ({reason}); start scripts/run, or pass "
            "--port with the port scripts/run printed"
        ) from None


def main() -> None:
    global BASE
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, help="bridge's port (default: BRIDGE_PORT or 8080)")
    args = parser.parse_args()
    if args.port is not None:
        BASE = f"http://127.0.0.1:{args.port}"
    call("GET", "/healthz")  # a bridge that does not answer is one line, before anything else
    for needed in (DEMO_SECRET_FILE, DEMO_API_KEY_FILE):
        if not needed.is_file():
            raise SystemExit(f"demo_push: {needed} is missing; scripts/run writes it when it starts")
    login = call(
        "POST",
        "/v1/login",
        {
            "partner": "demo",
            "session": True,
            "token": demo_token("alice", "alice@example.com", "Alice", "editor", 300),
        },
    )
    print(f"1. alice logged in: uid {login['user']['uid']}")
    call(
        "PUT",
        "/v1/me/devices",
        {"token": "demo-phone-of-alice-0123456789", "platform": "android"},
        bearer=login["id_token"],
    )
    print("2. alice registered her phone")
    api_key = DEMO_API_KEY_FILE.read_text().strip()
    accepted = call(
        "POST",
        "/v1/notifications",
        {
            "recipients": ["users/demo:alice"],
            "notification": {"title": "Hello Alice", "body": "Sent by bridge"},
            "data": {"screen": "inbox"},
        },
        bearer=api_key,
    )
    print(f"3. a backend sent notification {accepted['id']} to {accepted['devices']} device(s)")
    for _ in range(50):
        report = call("GET", f"/v1/notifications/{accepted['id']}", bearer=api_key)
        if report["state"] == "done":
            break
        time.sleep(0.1)
    print("4. delivery report:", json.dumps(report["counts"]))


if __name__ == "__main__":
    main()
