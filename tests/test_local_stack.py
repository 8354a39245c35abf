"""The local stack behind `scripts/run`: it keeps its ports across a quick restart (a socket left in
TIME_WAIT does not count as busy), fails loudly naming the port and its holder when one is really
taken, and runs MongoDB as a one-member replica set, as production does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from pymongo import MongoClient

from stack import ROOT, AuthEmulator, MongoServer, free_port, port_is_free


def leave_time_wait(port: int) -> None:
    """What a just-stopped server leaves: its side of a closed connection in TIME_WAIT on `port`."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server closes first: its socket goes to TIME_WAIT
        client.recv(1)
        client.close()


def test_a_port_in_time_wait_is_free_and_the_emulator_keeps_it():
    port = free_port()
    leave_time_wait(port)
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # the old check (no SO_REUSEADDR) called this port busy

    assert port_is_free(port)
    emulator = AuthEmulator("demo-ports", port).start()
    try:
        assert emulator.port == port
        urllib.request.urlopen(f"http://{emulator.host}/", timeout=5).close()
    finally:
        emulator.stop()


def test_scripts_run_fails_loudly_naming_a_taken_port_and_its_holder():
    port = free_port()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen();"
            " print('up', flush=True); sys.stdin.read()",
            str(port),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"up\n"
        assert not port_is_free(port)
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "dev.py"), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "BRIDGE_MONGODB_URI": "mongodb://127.0.0.1:9"},
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0
    assert f"port {port} is in use by pid {holder.pid}" in result.stderr


def test_the_local_mongod_is_a_one_member_replica_set_that_survives_a_new_port():
    server = MongoServer(replica_set="rs0", initiate=True).start()
    try:
        for _ in range(2):
            client: MongoClient[dict[str, object]] = MongoClient(server.uri, serverSelectionTimeoutMS=10000)
            try:
                hello = client.admin.command("hello")
                assert hello["setName"] == "rs0" and hello["isWritablePrimary"]
                with client.start_session() as session, session.start_transaction():
                    client.local_check.items.insert_one({"ok": True}, session=session)
                assert client.local_check.items.count_documents({}) >= 1
            finally:
                client.close()
            server.stop()
            server.port = free_port()  # scripts/run picks a free port each time
            server.start()
    finally:
        server.close()
