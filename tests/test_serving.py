"""`bridge serve` as a real process: graceful drain on SIGTERM, and several workers on one port."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from contract import Contract, assert_documented, served_contract
from scrape import Scrape

PASSWORD = "correct horse battery staple"


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.fixture
def start_bridge(tmp_path, bridge_processes, partner_server):
    partner_server.accounts["ann"] = (PASSWORD, {"id": 7, "username": "ann"})
    (tmp_path / "partners.toml").write_text(
        f'[partners.shop]\nkind = "password"\nlogin_url = "{partner_server.base_url}/api/auth/local"\n'
        "timeout_seconds = 10\n"
    )

    async def start(*args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
        return await bridge_processes.start(
            *args, BRIDGE_PARTNERS_FILE=str(tmp_path / "partners.toml"), **env
        )

    return start


async def status_of(contract: Contract, url: str) -> int | str:
    """The status of a GET (its answer held to the document), or "refused" when nothing listens."""
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            await assert_documented(contract, response)
            return response.status
    except aiohttp.ClientConnectorError:
        return "refused"


async def test_sigterm_drains_and_lets_a_request_in_flight_finish(start_bridge, partner_server):
    process, base = await start_bridge(BRIDGE_DRAIN_SECONDS="1", BRIDGE_SHUTDOWN_TIMEOUT_SECONDS="10")
    async with aiohttp.ClientSession() as http:
        contract = await served_contract(http, base)
    partner_server.login_delay = 2.5

    async def slow_login() -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{base}/v1/login", json={"partner": "shop", "username": "ann", "password": PASSWORD}
            ) as response,
        ):
            await assert_documented(contract, response)
            return response.status, await response.json()

    in_flight = asyncio.create_task(slow_login())
    await asyncio.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert await status_of(contract, f"{base}/readyz") == 503  # draining: load balancers take it out
    await asyncio.sleep(1.3)
    # no new connections after the drain window
    assert await status_of(contract, f"{base}/healthz") == "refused"

    status, body = await in_flight
    assert status == 200 and body["user"]["uid"] == "shop:7"
    assert await asyncio.to_thread(process.wait, 15) == 0


async def test_workers_share_one_port_and_stop_together(start_bridge):
    parent, base = await start_bridge("--workers", "2")
    deadline = time.monotonic() + 20
    while len(children_of(parent.pid)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    workers = children_of(parent.pid)
    assert len(workers) == 2
    async with aiohttp.ClientSession() as http:
        contract = await served_contract(http, base)
        for _ in range(30):
            async with http.get(f"{base}/healthz") as response:
                await assert_documented(contract, response)
                assert response.status == 200
        await asyncio.sleep(0.2)
        async with http.get(f"{base}/metrics") as response:
            await assert_documented(contract, response)
            text = await response.text()
    # fresh processes, and nothing else asks for /healthz: exactly these 30, summed over both workers
    healthz = Scrape.parse(text).value("bridge_http_request_duration_seconds_count", route="/healthz")
    assert healthz == 30

    parent.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(parent.wait, 30) == 0
    assert all(
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        for pid in workers
    )
