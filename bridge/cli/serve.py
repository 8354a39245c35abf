"""Serving: one process, or N worker processes sharing one port, with a graceful drain on SIGTERM.

On SIGTERM (or Ctrl-C) a process: answers /readyz with 503, keeps accepting for
BRIDGE_DRAIN_SECONDS (so load balancers notice), stops listening, gives requests in flight up to
BRIDGE_SHUTDOWN_TIMEOUT_SECONDS to finish, stops the push worker at a safe point (sends under way
are recorded, the rest handed back), then closes MongoDB and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from aiohttp import web

from bridge.app import create_app
from bridge.partners.config import ConfigError
from bridge.settings import Settings
from bridge.web.keys import DRAINING

log = logging.getLogger("bridge.server")
# `bridge` exits with this code on a configuration error (bridge.cli.main).
CONFIG_ERROR_EXIT = 2


async def serve_one(settings: Settings, reuse_port: bool = False) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout_seconds
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as error:
        # Stop what start-up began (the push worker, MongoDB, the HTTP session): left running, the
        # push worker kept the process alive and silent after a failed bind.
        await runner.cleanup()
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port} ({reason}); "
            "pass --port or set BRIDGE_PORT to a free port"
        ) from None
    log.info("listening", extra={"host": settings.host, "port": settings.port, "pid": os.getpid()})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    app[DRAINING].set()
    log.info("draining", extra={"drain_seconds": settings.drain_seconds})
    await asyncio.sleep(settings.drain_seconds)
    await runner.cleanup()
    log.info("stopped")


def supervise(workers: int, argv: list[str]) -> int:
    """Run `workers` copies of `bridge serve` on one port (SO_REUSEPORT); restart any that crash;
    on SIGTERM/SIGINT pass the signal on and wait for all of them to drain."""
    metrics_dir = tempfile.mkdtemp(prefix="bridge-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "BRIDGE_REUSE_PORT": "true"}
    pool = _Workers([sys.executable, "-m", "bridge", "serve", *argv], env, workers)
    signal.signal(signal.SIGTERM, pool.stop)
    signal.signal(signal.SIGINT, pool.stop)
    try:
        return pool.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _Workers:
    """The worker processes of `bridge serve --workers N`."""

    def __init__(self, command: list[str], env: dict[str, str], count: int) -> None:
        self._command = command
        self._env = env
        self._stopping = False
        self._children = [self._start() for _ in range(count)]

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._command, env=self._env)

    def stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        """Pass the stop on to every worker still running (a signal handler)."""
        self._stopping = True
        for child in self._children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        """Restart workers that exit until stopped; then the highest exit code once all drained."""
        while not self._stopping:
            for index, child in enumerate(self._children):
                code = child.poll()
                if code == CONFIG_ERROR_EXIT and not self._stopping:
                    return self._give_up()
                if code is not None and not self._stopping:
                    log.warning("worker exited; starting another", extra={"code": code})
                    self._children[index] = self._start()
            time.sleep(0.2)
        return max((child.wait() for child in self._children), default=0)

    def _give_up(self) -> int:
        """A worker that cannot start (its port is taken, ...) would fail the same way again:
        restarting it would loop forever. Its own message says what to set."""
        log.error("worker could not start; stopping", extra={"code": CONFIG_ERROR_EXIT})
        self.stop()
        for child in self._children:
            child.wait()
        return CONFIG_ERROR_EXIT
