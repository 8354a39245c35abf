"""The app factory: wires settings, partners, MongoDB, Firebase and routes into one aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from firebase_admin import credentials
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.service_account import load_service_account
from bridge.firebase.sessions import SessionApi
from bridge.infra.outbound import Outbound
from bridge.partners import Partner, build_partners
from bridge.push.fcm import AccessTokens, FcmSender, messages_url
from bridge.push.worker import DeliveryWorker
from bridge.services.accounts import Accounts
from bridge.services.admin import AdminService
from bridge.services.logins import Logins
from bridge.services.notifications import Notifications
from bridge.settings import Settings
from bridge.store.api_keys import ApiKeys
from bridge.store.attempts import LoginAttempts
from bridge.store.audit import AuditLog
from bridge.store.devices import DeviceStore
from bridge.store.idempotency import IdempotencyKeys
from bridge.store.mongo import Document, Store, open_client
from bridge.store.outbox import Outbox
from bridge.store.used_tokens import UsedTokens
from bridge.store.users import UserStore
from bridge.web.cors import setup_cors
from bridge.web.failures import error_middleware
from bridge.web.keys import (
    ACCOUNTS,
    ADMIN_SERVICE,
    API_KEYS,
    AUDIT_LOG,
    DELIVERY_WORKER,
    DEVICES,
    DRAINING,
    FCM_SENDER,
    FIREBASE_AUTH,
    FIREBASE_POOL,
    IDEMPOTENCY_KEYS,
    LOGIN_ATTEMPTS,
    LOGINS,
    MONGO_CLIENT,
    NOTIFICATIONS,
    OUTBOUND,
    OUTBOX,
    PARTNERS,
    SESSION_API,
    SETTINGS,
    SIGNING_POOL,
    TOKEN_MINTER,
    USED_TOKENS,
    USERS,
)
from bridge.web.request_log import request_log_middleware, take_over_request_logging
from bridge.web.routes import add_routes

log = logging.getLogger("bridge.app")

# firebase-admin calls block on HTTP; this many may be in flight at once, and this many more may
# wait for a thread (beyond that: 503 + Retry-After at once).
FIREBASE_THREADS = 8
FIREBASE_QUEUE = 8
# Each FCM request and each OAuth token fetch for FCM.
FCM_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Stores:
    """Every MongoDB store, on one client. Nothing connects until first use."""

    client: AsyncMongoClient[Document]
    users: UserStore
    used_tokens: UsedTokens
    login_attempts: LoginAttempts
    api_keys: ApiKeys
    idempotency_keys: IdempotencyKeys
    devices: DeviceStore
    outbox: Outbox
    audit: AuditLog

    def indexed(self) -> list[Store]:
        """The stores whose indexes are made at start-up, in that order."""
        return [
            self.users,
            self.used_tokens,
            self.login_attempts,
            self.idempotency_keys,
            self.devices,
            self.outbox,
            self.audit,
        ]


def open_stores(settings: Settings) -> Stores:
    client = open_client(settings.mongodb_uri, settings.mongodb_timeout_ms)
    database = client[settings.mongodb_database]
    return Stores(
        client=client,
        users=UserStore(database),
        used_tokens=UsedTokens(database),
        login_attempts=LoginAttempts(database),
        api_keys=ApiKeys(database),
        idempotency_keys=IdempotencyKeys(database),
        devices=DeviceStore(database, settings.max_devices_per_user),
        outbox=Outbox(database),
        audit=AuditLog(database),
    )


@dataclass(frozen=True, slots=True)
class Firebase:
    """Everything that talks to Google (or the emulator) for Auth."""

    signing_pool: ThreadPoolExecutor
    minter: CustomTokenMinter
    pool: ThreadPoolExecutor
    auth: FirebaseAuth
    sessions: SessionApi
    project_id: str

    def close(self) -> None:
        self.signing_pool.shutdown(wait=True)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.auth.close()


def _firebase(settings: Settings, service_account: credentials.Certificate, outbound: Outbound) -> Firebase:
    signing_pool = ThreadPoolExecutor(settings.signing_threads, thread_name_prefix="sign")
    pool = ThreadPoolExecutor(FIREBASE_THREADS, thread_name_prefix="firebase")
    project_id = settings.firebase_project_id or service_account.project_id
    auth = FirebaseAuth(
        service_account,
        project_id,
        pool,
        timeout_seconds=settings.firebase_timeout_seconds,
        capacity=FIREBASE_THREADS + FIREBASE_QUEUE,
    )
    sessions = SessionApi(
        outbound,
        settings.firebase_web_api_key,
        *settings.session_api_urls(),
        timeout_seconds=settings.firebase_timeout_seconds,
    )
    minter = CustomTokenMinter(service_account, signing_pool)
    return Firebase(signing_pool, minter, pool, auth, sessions, project_id)


@dataclass(frozen=True, slots=True)
class Push:
    sender: FcmSender
    worker: DeliveryWorker
    notifications: Notifications


def _push(
    settings: Settings,
    stores: Stores,
    outbound: Outbound,
    service_account: credentials.Certificate,
    project_id: str,
) -> Push:
    tokens = AccessTokens(service_account, settings.fcm_token_url, timeout_seconds=FCM_TIMEOUT_SECONDS)
    sender = FcmSender(
        outbound,
        messages_url(settings.fcm_url, project_id),
        tokens,
        max_attempts=settings.push_max_attempts,
        backoff_seconds=settings.push_backoff_seconds,
        timeout_seconds=FCM_TIMEOUT_SECONDS,
    )
    worker = DeliveryWorker(
        stores.outbox,
        stores.devices,
        sender,
        concurrency=settings.push_concurrency,
        poll_seconds=settings.push_poll_seconds,
        lease=timedelta(seconds=settings.push_lease_seconds),
        give_up=timedelta(seconds=settings.push_give_up_seconds),
    )
    woken = worker if settings.push_worker else None
    notifications = Notifications(stores.users, stores.devices, stores.outbox, woken)
    return Push(sender, worker, notifications)


@dataclass(frozen=True, slots=True)
class Components:
    """bridge's services wired once from settings: by the server (create_app) and the CLI."""

    settings: Settings
    stores: Stores
    outbound: Outbound
    partners: dict[str, Partner]
    firebase: Firebase
    logins: Logins
    accounts: Accounts
    push: Push
    admin: AdminService

    async def close(self) -> None:
        """Release what the components hold (for the CLI; the server's cleanup contexts do this)."""
        self.firebase.close()
        await self.stores.client.close()


def build_components(settings: Settings) -> Components:
    """Configuration mistakes raise ConfigError here. Nothing connects yet."""
    stores = open_stores(settings)
    outbound = Outbound()
    partners = build_partners(settings.partners, outbound)
    service_account = load_service_account(settings.service_account_path())
    firebase = _firebase(settings, service_account, outbound)
    logins = Logins(
        stores.users,
        stores.used_tokens,
        firebase.minter,
        firebase.sessions,
        stores.login_attempts,
        firebase.auth,
    )
    accounts = Accounts(stores.users, firebase.auth)
    push = _push(settings, stores, outbound, service_account, firebase.project_id)
    admin = AdminService(stores.users, stores.devices, firebase.auth, stores.audit, partners)
    return Components(settings, stores, outbound, partners, firebase, logins, accounts, push, admin)


@asynccontextmanager
async def components_for_cli(settings: Settings) -> AsyncIterator[Components]:
    """The components as `bridge serve` wires them, released when the command is done."""
    components = build_components(settings)
    try:
        yield components
    finally:
        await components.close()


# The app's own key for its components (handlers use the typed keys of bridge.web.keys).
COMPONENTS = web.AppKey("components", Components)


def create_app(settings: Settings) -> web.Application:
    """Build the app. Configuration mistakes raise ConfigError here, before anything listens.
    Nothing connects yet: MongoDB and the HTTP session open when the app starts."""
    take_over_request_logging()
    app = web.Application(
        middlewares=[request_log_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DRAINING] = asyncio.Event()
    _provide(app, build_components(settings))
    app.cleanup_ctx.append(_mongodb)
    app.cleanup_ctx.append(_login_locks)
    app.cleanup_ctx.append(_outbound)
    app.cleanup_ctx.append(_delivery_worker)
    app.on_cleanup.append(_stop_thread_pools)
    app.on_response_prepare.append(_no_store_by_default)
    add_routes(app)
    setup_cors(app)
    return app


def _provide(app: web.Application, components: Components) -> None:
    """Each component under its key, where handlers find it."""
    stores, firebase, push = components.stores, components.firebase, components.push
    app[COMPONENTS] = components
    app[MONGO_CLIENT] = stores.client
    app[USERS] = stores.users
    app[USED_TOKENS] = stores.used_tokens
    app[LOGIN_ATTEMPTS] = stores.login_attempts
    app[API_KEYS] = stores.api_keys
    app[IDEMPOTENCY_KEYS] = stores.idempotency_keys
    app[DEVICES] = stores.devices
    app[OUTBOX] = stores.outbox
    app[AUDIT_LOG] = stores.audit
    app[OUTBOUND] = components.outbound
    app[PARTNERS] = components.partners
    app[SIGNING_POOL] = firebase.signing_pool
    app[TOKEN_MINTER] = firebase.minter
    app[FIREBASE_POOL] = firebase.pool
    app[FIREBASE_AUTH] = firebase.auth
    app[SESSION_API] = firebase.sessions
    app[LOGINS] = components.logins
    app[ACCOUNTS] = components.accounts
    app[FCM_SENDER] = push.sender
    app[DELIVERY_WORKER] = push.worker
    app[NOTIFICATIONS] = push.notifications
    app[ADMIN_SERVICE] = components.admin


async def _no_store_by_default(request: web.Request, response: web.StreamResponse) -> None:
    """Answers carry credentials (custom, ID and refresh tokens, API keys) or personal data: no
    cache — browser, proxy or CDN — may keep one (RFC 6749 §5.1, RFC 9111 §5.2.2.5). A handler
    that sets its own Cache-Control keeps it."""
    response.headers.setdefault("Cache-Control", "no-store")


async def _delivery_worker(app: web.Application) -> AsyncIterator[None]:
    """Runs after MongoDB and the HTTP session are up, and stops before they close."""
    if app[SETTINGS].push_worker:
        app[DELIVERY_WORKER].start()
    yield
    await app[DELIVERY_WORKER].stop()


async def _mongodb(app: web.Application) -> AsyncIterator[None]:
    try:
        for store in app[COMPONENTS].stores.indexed():
            await store.ensure_indexes()
    except PyMongoError as error:
        # bridge still starts (readiness says 503); the user store creates its indexes on first use.
        log.warning("mongodb not reachable at start-up", extra={"error": type(error).__name__})
    yield
    await app[MONGO_CLIENT].close()


LOCK_SYNC_STOP_SECONDS = 5.0


async def _login_locks(app: web.Application) -> AsyncIterator[None]:
    """Keeps this process's board of locked addresses in step with the other processes'."""
    stop = asyncio.Event()
    task = asyncio.create_task(app[LOGIN_ATTEMPTS].keep_locks_synced(stop), name="login-locks")
    yield
    stop.set()
    try:
        await asyncio.wait_for(task, LOCK_SYNC_STOP_SECONDS)
    except TimeoutError:  # a poll stuck on MongoDB: wait_for has cancelled it
        log.warning("the login-lock poll did not stop in time")


async def _outbound(app: web.Application) -> AsyncIterator[None]:
    await app[OUTBOUND].open()
    yield
    await app[OUTBOUND].close()


async def _stop_thread_pools(app: web.Application) -> None:
    app[COMPONENTS].firebase.close()
