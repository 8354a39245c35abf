"""bridge as real processes (`python -m bridge serve`), for tests that signal, stop or kill them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stack import free_port, wait_ready


@dataclass
class BridgeProcesses:
    """Starts bridge processes with a common environment, each on its own port and logging to its own
    file in `log_directory` (read it when a test fails); `stop_all` kills whatever still runs."""

    log_directory: Path
    environment: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    async def start(self, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
        """A ready process (its /readyz answered 200) and its base URL."""
        port = free_port()
        log_path = self.log_directory / f"bridge-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", *args],
                env={**os.environ, **self.environment, "BRIDGE_PORT": str(port), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        try:  # in a thread: the test's own stand-ins keep answering on this event loop meanwhile
            await asyncio.to_thread(wait_ready, f"{base}/readyz", process, 30)
        except SystemExit as failure:
            raise AssertionError(f"{failure}; its log:\n{log_path.read_text(errors='replace')}") from None
        return process, base

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a stopped process dies only once continued
                process.kill()
                process.wait()
