"""Fixtures: a real mongod and the Firebase Auth emulator as subprocesses, bridge apps on top.

MONGODB_URI and FIREBASE_AUTH_EMULATOR_HOST point the suite at servers you run yourself instead.

The login, accounts, single-use and push suites run twice: against a standalone mongod and against
a 3-member replica set (three mongods from the same wheel, started once per session and shared;
MONGODB_REPLICA_SET_URI points at one of your own instead).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import firebase_admin
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from bridge_processes import BridgeProcesses
from contract import ContractClient
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bridge.app import create_app
from bridge.firebase.service_account import write_service_account
from bridge.partners.config import parse_partners
from bridge.settings import Settings

from fcm_standin import FcmStandIn
from partner_server import PartnerServer
from partner_tokens import PartnerKeys
from stack import AuthEmulator, MongoServer, ReplicaSet

PROJECT_ID = os.environ.get("BRIDGE_TEST_PROJECT_ID", "demo-bridge")
# Test modules that also run against the replica set (keep this short: each doubles a suite).
REPLICA_SET_SUITES = frozenset({"test_login", "test_accounts", "test_claim_rules", "test_push"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ in REPLICA_SET_SUITES and "mongodb_uri" in metafunc.fixturenames:
        metafunc.parametrize("mongodb_topology", ["standalone", "replica-set"], indirect=True)


# Databases MongoDB keeps for itself; every other one on a server the suite started is a test's.
SERVER_DATABASES = frozenset({"admin", "config", "local"})


def database_names(uri: str) -> set[str]:
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as mongo:
        return set(mongo.list_database_names())


def drop_database(uri: str, name: str) -> None:
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as mongo:
        mongo.drop_database(name)


@contextmanager
def no_database_left_behind(uri: str) -> Iterator[None]:
    """Fails the session if a database appeared on this server during it and is still there."""
    before = database_names(uri) | SERVER_DATABASES
    yield
    left = sorted(database_names(uri) - before)
    assert not left, f"tests left these databases on {uri.split('@')[-1]}: {left}"


@pytest.fixture(scope="session")
def standalone_uri() -> Iterator[str]:
    if uri := os.environ.get("MONGODB_URI"):
        with no_database_left_behind(uri):
            yield uri
        return
    server = MongoServer().start()
    try:
        with no_database_left_behind(server.uri):
            yield server.uri
    finally:
        server.close()


@pytest.fixture(scope="session")
def replica_set() -> Iterator[ReplicaSet | None]:
    """The shared 3-member replica set (None when MONGODB_REPLICA_SET_URI names your own)."""
    if uri := os.environ.get("MONGODB_REPLICA_SET_URI"):
        with no_database_left_behind(uri):
            yield None
        return
    if os.environ.get("MONGODB_URI"):
        pytest.skip("MONGODB_URI is set without MONGODB_REPLICA_SET_URI")
    replica_set = ReplicaSet(3).start()
    try:
        with no_database_left_behind(replica_set.uri):
            yield replica_set
    finally:
        replica_set.close()


@pytest.fixture(scope="session")
def replica_set_uri(replica_set: ReplicaSet | None) -> str:
    return replica_set.uri if replica_set is not None else os.environ["MONGODB_REPLICA_SET_URI"]


@pytest.fixture
def mongodb_topology(request: pytest.FixtureRequest) -> str:
    topology: str = getattr(request, "param", "standalone")
    return topology


@pytest.fixture
def mongodb_uri(mongodb_topology: str, request: pytest.FixtureRequest) -> str:
    uri: str = request.getfixturevalue(
        "replica_set_uri" if mongodb_topology == "replica-set" else "standalone_uri"
    )
    return uri


@pytest.fixture
def bridge_processes(
    tmp_path: Path, mongodb_uri: str, database_name: str, service_account_file: Path, auth_emulator_host: str
) -> Iterator[BridgeProcesses]:
    """Real `bridge serve` processes on the test's database (killed after the test)."""
    processes = BridgeProcesses(
        tmp_path,
        {
            "BRIDGE_SERVICE_ACCOUNT_FILE": str(service_account_file),
            "BRIDGE_MONGODB_URI": mongodb_uri,
            "BRIDGE_MONGODB_DATABASE": database_name,
        },
    )
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def own_mongod() -> Iterator[MongoServer]:
    """A mongod of this test's own, to stop, kill or restart (skipped when MONGODB_URI names your own
    servers: the test cannot stop those)."""
    if os.environ.get("MONGODB_URI"):
        pytest.skip("stops, kills or restarts a mongod of its own")
    server = MongoServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def auth_emulator_host() -> Iterator[str]:
    """The emulator's host:port, also exported as FIREBASE_AUTH_EMULATOR_HOST for firebase-admin."""
    if host := os.environ.get("FIREBASE_AUTH_EMULATOR_HOST"):
        yield host
        return
    emulator = AuthEmulator(PROJECT_ID).start()
    os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator.host
    finally:
        del os.environ["FIREBASE_AUTH_EMULATOR_HOST"]
        emulator.stop()


@pytest.fixture(scope="session")
def service_account_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("service-account") / "service-account.json"
    write_service_account(path, PROJECT_ID)
    return path


@pytest.fixture(scope="session")
def partner_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[PartnerKeys, Path]:
    keys = PartnerKeys()
    directory = tmp_path_factory.mktemp("partners")
    keys.write_files(directory)
    return keys, directory


@pytest.fixture
def keys(partner_keys: tuple[PartnerKeys, Path]) -> PartnerKeys:
    return partner_keys[0]


@pytest.fixture(autouse=True)
def databases_to_drop() -> Iterator[list[tuple[str, str]]]:
    """(uri, name) of the databases this test named. Autouse, so set up before every other fixture of
    the test and torn down after them all: the drop comes once the apps, CLIs and bridge processes
    that wrote to the database have stopped, so nothing writes it again."""
    named: list[tuple[str, str]] = []
    yield named
    for uri, name in named:
        drop_database(uri, name)


@pytest.fixture
def database_name(mongodb_uri: str, databases_to_drop: list[tuple[str, str]]) -> str:
    """The test's own database on `mongodb_uri`, dropped after the test."""
    name = f"bridge_test_{uuid.uuid4().hex[:12]}"
    databases_to_drop.append((mongodb_uri, name))
    return name


@pytest.fixture
def make_settings(
    mongodb_uri: str,
    service_account_file: Path,
    partner_keys: tuple[PartnerKeys, Path],
    database_name: str,
    auth_emulator_host: str,
) -> Any:
    keys, directory = partner_keys

    def make(extra_partners: dict[str, Any] | None = None, **overrides: Any) -> Settings:
        document = keys.partners_document()
        document["partners"].update(extra_partners or {})
        values: dict[str, Any] = {
            "mongodb_uri": mongodb_uri,
            "mongodb_database": database_name,
            "service_account_file": service_account_file,
            "partners": parse_partners(document, "test partners", directory),
            "mongodb_timeout_ms": 1500,
            "firebase_web_api_key": "test-web-api-key",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    settings: Settings = make_settings()
    return settings


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
def aiohttp_client_cls() -> type[ContractClient]:
    """Every `aiohttp_client(app)` checks each answer against the app's /openapi.json."""
    return ContractClient


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> TestClient[Any, Any]:
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    return test_client


StandIn = TypeVar("StandIn", FcmStandIn, PartnerServer)


async def serve_standin(aiohttp_server: Any, standin: StandIn) -> StandIn:
    """Serve a stand-in of a remote service on loopback (its `base_url` set to where)."""
    running = await aiohttp_server(standin.app())
    standin.base_url = str(running.make_url("")).rstrip("/")
    return standin


@pytest.fixture
def start_with_partners(aiohttp_client: Any, make_settings: Any) -> Any:
    """Start a bridge app whose partners file has these extra partners."""

    async def start(**partners: dict[str, Any]) -> TestClient[Any, Any]:
        test_client: TestClient[Any, Any] = await aiohttp_client(
            create_app(make_settings(extra_partners=partners))
        )
        return test_client

    return start


@pytest.fixture
async def fcm(aiohttp_server: Any) -> FcmStandIn:
    """The FCM v1 stand-in (and OAuth token endpoint) on loopback."""
    return await serve_standin(aiohttp_server, FcmStandIn())


@pytest.fixture
def firebase_admin_app(auth_emulator_host: str) -> Iterator[Any]:
    """A firebase-admin app of the tests' own, talking to the Auth emulator."""
    app = firebase_admin.initialize_app(options={"projectId": PROJECT_ID}, name=f"tests-{uuid.uuid4().hex}")
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
async def partner_server(aiohttp_server: Any) -> PartnerServer:
    """The partner's remote services (JWKS, OIDC discovery, login API) on loopback."""
    return await serve_standin(aiohttp_server, PartnerServer())


@pytest.fixture
async def db(mongodb_uri: str, database_name: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The test's own database, for assertions (`database_name` drops it)."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield mongo[database_name]
    finally:
        await mongo.close()
