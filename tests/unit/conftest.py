"""The unit layer runs without servers: a unit test that asks (directly or through another fixture)
for mongod, the replica set or the Auth emulator stops the run at collection."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).parent
SERVER_FIXTURES = frozenset(
    {"standalone_uri", "replica_set", "replica_set_uri", "mongodb_uri", "auth_emulator_host"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT_DIR in item.path.parents:
            servers = sorted(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))
            if servers:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {', '.join(servers)}")
