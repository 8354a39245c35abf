"""Login benchmark: starts mongod + bridge, drives concurrent logins of distinct users over loopback,
and prints requests/s, p50/p99 latency and, measured in the same run, this machine's RSA-2048
signing rate (one custom token = one signature), so runs on different machines compare by ratio.

    .venv/bin/python scripts/bench_login.py --requests 5000 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from stack import MongoServer, free_port, wait_ready

ISSUER = "https://bench.local"


def rsa_sign_rate(seconds: float = 1.0) -> float:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 300
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        count += 1
    return count / elapsed


def write_config(directory: Path, secret: str) -> Path:
    (directory / "bench.secret").write_text(secret)
    partners = directory / "partners.toml"
    partners.write_text(
        f'[partners.bench]\nkind = "jwt"\nissuer = "{ISSUER}"\naudience = "bridge"\n'
        'algorithms = ["HS256"]\nsecret_file = "bench.secret"\n[partners.bench.claims]\nrole = "role"\n'
    )
    subprocess.run(
        [sys.executable, "-m", "bridge", "keys", "service-account", "--out", str(directory / "sa.json")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return partners


def start_bridge(
    directory: Path, partners: Path, mongodb_uri: str, port: int, profile: str | None, workers: int = 1
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BRIDGE_PARTNERS_FILE": str(partners),
        "BRIDGE_SERVICE_ACCOUNT_FILE": str(directory / "sa.json"),
        "BRIDGE_MONGODB_URI": mongodb_uri,
        "BRIDGE_MONGODB_DATABASE": f"bench_{secrets.token_hex(4)}",
    }
    bridge = subprocess.Popen(
        [
            sys.executable,
            *(["-m", "cProfile", "-o", profile] if profile else []),
            "-m",
            "bridge",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", bridge)
    except SystemExit:
        bridge.kill()
        raise
    return bridge


async def drive(port: int, tokens: list[str], concurrency: int) -> tuple[list[float], int, float]:
    url = f"http://127.0.0.1:{port}/v1/login"
    latencies: list[float] = []
    errors = 0
    queue = iter(tokens)

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for token in queue:
            started = time.perf_counter()
            async with http.post(url, json={"partner": "bench", "token": token}) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--profile", metavar="FILE", help="run bridge under cProfile, stats to FILE")
    parser.add_argument("--workers", type=int, default=1, help="bridge serve --workers")
    args = parser.parse_args()

    print("measuring RSA-2048 signing (1 s, one thread) ...", file=sys.stderr)
    sign_rate = rsa_sign_rate()
    secret = secrets.token_hex(32)
    now = int(time.time())

    def token(n: int) -> str:
        claims = {
            "iss": ISSUER,
            "aud": "bridge",
            "sub": f"user-{n}",
            "iat": now,
            "exp": now + 3600,
            "role": "r",
        }
        return jwt.encode(claims, secret, algorithm="HS256")

    warmup = [token(-n - 1) for n in range(args.warmup)]
    tokens = [token(n) for n in range(args.requests)]

    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as tmp:
        directory = Path(tmp)
        partners = write_config(directory, secret)
        mongo = None
        mongodb_uri = os.environ.get("MONGODB_URI")
        if not mongodb_uri:
            mongo = MongoServer().start()
            mongodb_uri = mongo.uri
        port = free_port()
        bridge = start_bridge(directory, partners, mongodb_uri, port, args.profile, args.workers)
        try:
            asyncio.run(drive(port, warmup, args.concurrency))
            latencies, errors, elapsed = asyncio.run(drive(port, tokens, args.concurrency))
        finally:
            bridge.terminate()
            bridge.wait(20)
            if mongo:
                mongo.close()

    rate = len(latencies) / elapsed
    print(
        f"logins (distinct first-time users): {len(latencies)}, concurrency {args.concurrency}, "
        f"errors {errors}"
    )
    print(
        f"throughput: {rate:,.0f} logins/s over {elapsed:.2f} s "
        f"({args.workers} bridge process(es), {os.cpu_count()} cores)"
    )
    print(
        f"latency: p50 {percentile(latencies, 0.50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )
    print(f"RSA-2048 signing on this machine: {sign_rate:,.0f} sign/s (one thread)")
    print(f"ratio: logins/s per single-thread sign/s = {rate / sign_rate:.2f}")


if __name__ == "__main__":
    main()
