"""Push fan-out benchmark: N users x D devices, one notification to all of them by user reference,
delivered by one bridge process to a local FCM v1 sink over loopback. Prints messages/s and the
bridge process's peak memory.

    .venv/bin/python scripts/bench_fanout.py --users 5000 --devices 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bridge.store.api_keys import ApiKeys

from stack import ROOT, MongoServer, free_port


def wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as error:
            if getattr(error, "code", None):  # an HTTP error answer means it is up
                return
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def call(method: str, url: str, body: Any, key: str) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


async def seed(uri: str, database: str, users: int, devices: int) -> str:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client[database]
    now = datetime.now(UTC)
    await db.users.insert_many(
        [
            {
                "uid": f"bench:u{n}",
                "partner": "bench",
                "external_id": f"u{n}",
                "disabled": False,
                "claims": {},
                "created_at": now,
            }
            for n in range(users)
        ]
    )
    await db.devices.insert_many(
        [
            {
                "_id": f"device-{n}-{d}-{secrets.token_hex(8)}",
                "uid": f"bench:u{n}",
                "platform": "android",
                "created_at": now,
                "last_seen_at": now,
            }
            for n in range(users)
            for d in range(devices)
        ]
    )
    _, key = await ApiKeys(db).create("bench", {"notifications:send"})
    await client.close()
    return key


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=50, help="BRIDGE_PUSH_CONCURRENCY")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bridge-fanout-") as tmp:
        directory = Path(tmp)
        (directory / "partners.toml").write_text(
            '[partners.bench]\nkind = "jwt"\nissuer = "https://bench.local"\naudience = "bridge"\n'
            'algorithms = ["HS256"]\nsecret_env = "BENCH_SECRET"\n'
        )
        subprocess.run(
            [sys.executable, "-m", "bridge", "keys", "service-account", "--out", str(directory / "sa.json")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        mongo = MongoServer().start()
        sink_port, port = free_port(), free_port()
        database = f"fanout_{secrets.token_hex(4)}"
        processes: list[subprocess.Popen[bytes]] = []
        try:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "scripts" / "fcm_sink.py"),
                        "--port",
                        str(sink_port),
                        "--quiet",
                    ],
                    stderr=subprocess.DEVNULL,
                )
            )
            env = {
                **os.environ,
                "BENCH_SECRET": secrets.token_hex(32),
                "BRIDGE_PARTNERS_FILE": str(directory / "partners.toml"),
                "BRIDGE_SERVICE_ACCOUNT_FILE": str(directory / "sa.json"),
                "BRIDGE_MONGODB_URI": mongo.uri,
                "BRIDGE_MONGODB_DATABASE": database,
                "BRIDGE_FCM_URL": f"http://127.0.0.1:{sink_port}",
                "BRIDGE_FCM_TOKEN_URL": f"http://127.0.0.1:{sink_port}/token",
                "BRIDGE_LOG_LEVEL": "WARNING",
                "BRIDGE_PUSH_CONCURRENCY": str(args.concurrency),
                "BRIDGE_PUSH_POLL_SECONDS": "0.05",
            }
            bridge = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
                env=env,
                stderr=subprocess.DEVNULL,
            )
            processes.append(bridge)
            wait_http(f"http://127.0.0.1:{port}/readyz")
            key = asyncio.run(seed(mongo.uri, database, args.users, args.devices))
            refs = [f"bench:u{n}" for n in range(args.users)]
            started = time.perf_counter()
            accepted = call(
                "POST",
                f"http://127.0.0.1:{port}/v1/notifications",
                {"recipients": refs, "notification": {"title": "t", "body": "b"}},
                key,
            )
            accept_seconds = time.perf_counter() - started
            while True:
                report = call("GET", f"http://127.0.0.1:{port}/v1/notifications/{accepted['id']}", None, key)
                if report["state"] == "done":
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            counts = report["counts"]
            print(
                f"fan-out: {args.users} users x {args.devices} devices = {counts['devices']} messages, "
                f"sent {counts['sent']}, failed {counts['failed']}"
            )
            print(f"accepted (persisted to the outbox) in {accept_seconds * 1000:.0f} ms")
            print(
                f"delivered in {elapsed:.2f} s: {counts['sent'] / elapsed:,.0f} messages/s "
                f"(concurrency {args.concurrency}, one bridge process, sink on loopback)"
            )
            print(f"bridge peak memory (VmHWM): {peak_rss_mib(bridge.pid):.0f} MiB")
        finally:
            for process in processes:
                process.terminate()
                process.wait(20)
            mongo.close()


if __name__ == "__main__":
    main()
