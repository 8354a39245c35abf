"""Login benchmark with wrk (Debian package `wrk`): a real mongod, bridge (1 process or
`--workers N`), and wrk posting distinct HS256 partner tokens from a Lua script, so the load
generator costs little next to the server. Prints, per run: logins/s, p50/p99 latency, non-2xx
answers, and server CPU per login (utime + stime of every bridge process and of mongod, read from
/proc before and after the measured window).

    .venv/bin/python scripts/bench_wrk.py                           # this checkout, 1 process
    .venv/bin/python scripts/bench_wrk.py --workers 2 --rounds 3
    .venv/bin/python scripts/bench_wrk.py --bridge-dir /path/to/old --bridge-dir . --rounds 3

With several `--bridge-dir` (checkouts, each with its own .venv), runs alternate between them
round by round, so a shared, busy machine affects each alike; compare the ranges, and above all
CPU per login (throughput depends on what else the machine is doing, CPU per login much less).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from stack import MongoServer, free_port, wait_ready

ISSUER = "https://bench.local"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

LUA = """
local bodies = {}
local n = 0
offset = 0
local count = 0
%s
function setup(thread)
  thread:set("offset", count)
  count = count + 1
end
function init(args)
  n = offset
end
function request()
  n = n + 1
  if n > #bodies then n = 1 end
  return wrk.format("POST", "/v1/login", {["Content-Type"] = "application/json"}, bodies[n])
end
"""


def write_lua(path: Path, secret: str, first_user: int, users: int, threads: int) -> None:
    """A Lua script whose threads post distinct users: thread t starts at user t * users/threads."""
    now = int(time.time())
    lines = []
    for n in range(first_user, first_user + users):
        claims = {"iss": ISSUER, "aud": "bridge", "sub": f"user-{n}", "iat": now, "exp": now + 3600}
        body = json.dumps({"partner": "bench", "token": jwt.encode(claims, secret, algorithm="HS256")})
        lines.append(f"bodies[#bodies + 1] = [[{body}]]")
    # setup() runs once per thread in the main Lua state: offset = thread index * stride.
    script = LUA % "\n".join(lines)
    stride = users // threads
    script = script.replace('thread:set("offset", count)', f'thread:set("offset", count * {stride})')
    path.write_text(script)


def write_config(directory: Path, python: str, cwd: Path, secret: str) -> Path:
    (directory / "bench.secret").write_text(secret)
    partners = directory / "partners.toml"
    partners.write_text(
        f'[partners.bench]\nkind = "jwt"\nissuer = "{ISSUER}"\naudience = "bridge"\n'
        'algorithms = ["HS256"]\nsecret_file = "bench.secret"\n'
    )
    if not (directory / "sa.json").exists():
        subprocess.run(
            [python, "-m", "bridge", "keys", "service-account", "--out", str(directory / "sa.json")],
            check=True,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
        )
    return partners


def descendants(pid: int) -> list[int]:
    """pid and every process below it (the workers of `bridge serve --workers N`)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in seconds."""
    result = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        result[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return result


@dataclass
class Run:
    label: str
    workers: int
    requests: int
    seconds: float
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float
    bridge_cpu: float
    mongod_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def cpu_ms_per_login(self, mongod: bool = True) -> float:
        return (self.bridge_cpu + (self.mongod_cpu if mongod else 0)) * 1000 / max(1, self.requests)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> tuple[int, float, int, int, float, float]:
    requests, seconds = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output).groups()[:2]  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", output)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", output)
    return (
        int(requests),
        float(seconds),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(g) for g in errors.groups()) if errors else 0,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
    )


def start_bridge(
    python: str, cwd: Path, directory: Path, mongodb_uri: str, port: int, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "BRIDGE_PARTNERS_FILE": str(directory / "partners.toml"),
        "BRIDGE_SERVICE_ACCOUNT_FILE": str(directory / "sa.json"),
        "BRIDGE_MONGODB_URI": mongodb_uri,
        "BRIDGE_MONGODB_DATABASE": f"bench_{secrets.token_hex(4)}",
    }
    with log.open("wb") as sink:
        bridge = subprocess.Popen(
            [python, "-m", "bridge", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", bridge)
    except SystemExit as failure:
        bridge.kill()
        raise SystemExit(f"{failure} (bridge in {cwd}, log: {log})") from None
    return bridge


def wrk(port: int, lua: Path, connections: int, threads: int, duration: int) -> str:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(lua),
        f"http://127.0.0.1:{port}",
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def one_run(args: argparse.Namespace, checkout: Path, tmp: Path, secret: str, lua: Path, warm: Path) -> Run:
    python = str(checkout / ".venv" / "bin" / "python")
    write_config(tmp, python, checkout, secret)
    mongo = MongoServer().start()
    port = free_port()
    log = tmp / f"bridge-{checkout.name}.log"
    bridge = start_bridge(python, checkout, tmp, mongo.uri, port, args.workers, log)
    try:
        wrk(port, warm, args.connections, args.threads, args.warmup)
        assert mongo.process is not None
        pids = descendants(bridge.pid)
        before, mongod_before = cpu_seconds(pids), cpu_seconds([mongo.process.pid])
        spy = None
        if args.py_spy:
            # The measured window, sampled by py-spy (pip install py-spy); one file per run.
            target = pids[-1] if args.workers > 1 else bridge.pid
            out = f"{args.py_spy}.{checkout.name}.{len(list(Path(args.py_spy).parent.glob('*')))}.txt"
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(target),
                    "--duration",
                    str(args.duration),
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--threads",
                    "-o",
                    out,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        output = wrk(port, lua, args.connections, args.threads, args.duration)
        if spy is not None:
            spy.wait(60)
        after, mongod_after = cpu_seconds(pids), cpu_seconds([mongo.process.pid])
    finally:
        bridge.terminate()
        bridge.wait(30)
        mongo.close()
    requests, seconds, non_2xx, errors, p50, p99 = parse_wrk(output)
    return Run(
        label=str(checkout),
        workers=args.workers,
        requests=requests,
        seconds=seconds,
        non_2xx=non_2xx,
        errors=errors,
        p50_ms=p50,
        p99_ms=p99,
        bridge_cpu=sum(after[p] - before[p] for p in after if p in before),
        mongod_cpu=sum(mongod_after.values()) - sum(mongod_before.values()),
    )


def describe(run: Run) -> str:
    return (
        f"{run.label} workers={run.workers}: {run.rate:,.0f} logins/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, non-2xx {run.non_2xx}, socket errors {run.errors}, "
        f"CPU/login {run.cpu_ms_per_login():.2f} ms (bridge {run.cpu_ms_per_login(False):.2f} + mongod "
        f"{run.mongod_cpu * 1000 / max(1, run.requests):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bridge-dir", action="append", type=Path, help="a checkout with .venv (repeatable)")
    parser.add_argument("--workers", type=int, default=1, help="bridge serve --workers (default 1)")
    parser.add_argument("--users", type=int, default=20000, help="distinct users in the script")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up (other users)")
    parser.add_argument("--py-spy", metavar="PREFIX", help="record each run with py-spy (collapsed stacks)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per checkout, alternating")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    checkouts = [d.resolve() for d in (args.bridge_dir or [Path(__file__).resolve().parent.parent])]

    secret = secrets.token_hex(32)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bridge-wrk-") as name:
        tmp = Path(name)
        lua, warm = tmp / "logins.lua", tmp / "warmup.lua"
        write_lua(lua, secret, 0, args.users, args.threads)
        write_lua(warm, secret, 10_000_000, 2000, args.threads)
        for _ in range(args.rounds):
            for checkout in checkouts:
                run = one_run(args, checkout, tmp, secret, lua, warm)
                runs.append(run)
                print(describe(run), flush=True)
    if args.rounds > 1 or len(checkouts) > 1:
        print("summary (min-max over rounds):")
        for checkout in checkouts:
            mine = [r for r in runs if r.label == str(checkout)]

            def span(values: list[float], fmt: str) -> str:
                return f"{fmt.format(min(values))} to {fmt.format(max(values))}"

            print(
                f"  {checkout} workers={args.workers}: "
                f"{span([r.rate for r in mine], '{:,.0f}')} logins/s, "
                f"p99 {span([r.p99_ms for r in mine], '{:.0f}')} ms, "
                f"CPU/login {span([r.cpu_ms_per_login() for r in mine], '{:.2f}')} ms "
                f"(bridge alone {span([r.cpu_ms_per_login(False) for r in mine], '{:.2f}')} ms), "
                f"non-2xx {sum(r.non_2xx for r in mine)}"
            )


if __name__ == "__main__":
    sys.exit(main())
