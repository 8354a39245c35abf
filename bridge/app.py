"""The app factory: wires settings, partners, MongoDB, Firebase and routes into one aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from aiohttp import web
from firebase_admin import credentials
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.service_account import load_service_account
from bridge.firebase.sessions import SessionApi
from bridge.infra.outbound import Outbound
from bridge.partners import Partner, build_partners
from bridge.push.fcm import AccessTokens, FcmSender
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
from bridge.store.mongo import Document, open_client
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

    mongo = open_client(settings.mongodb_uri, settings.mongodb_timeout_ms)
    database = mongo[settings.mongodb_database]
    app[MONGO_CLIENT] = mongo
    app[USERS] = UserStore(database)
    app[USED_TOKENS] = UsedTokens(database)
    app[LOGIN_ATTEMPTS] = LoginAttempts(database)
    app[API_KEYS] = ApiKeys(database)
    app[OUTBOUND] = Outbound()
    app[PARTNERS] = build_partners(settings.partners, app[OUTBOUND], app[LOGIN_ATTEMPTS])

    service_account = load_service_account(settings.service_account_path())
    app[SIGNING_POOL] = ThreadPoolExecutor(settings.signing_threads, thread_name_prefix="sign")
    app[TOKEN_MINTER] = CustomTokenMinter(service_account, app[SIGNING_POOL])
    app[FIREBASE_POOL] = ThreadPoolExecutor(FIREBASE_THREADS, thread_name_prefix="firebase")
    project_id = settings.firebase_project_id or service_account.project_id
    app[FIREBASE_AUTH] = FirebaseAuth(
        service_account,
        project_id,
        app[FIREBASE_POOL],
        timeout_seconds=settings.firebase_timeout_seconds,
        capacity=FIREBASE_THREADS + FIREBASE_QUEUE,
    )
    app[SESSION_API] = SessionApi(
        app[OUTBOUND],
        settings.firebase_web_api_key,
        *settings.session_api_urls(),
        timeout_seconds=settings.firebase_timeout_seconds,
    )
    app[LOGINS] = Logins(
        app[USERS],
        app[USED_TOKENS],
        app[TOKEN_MINTER],
        app[SESSION_API],
        app[LOGIN_ATTEMPTS],
        app[FIREBASE_AUTH],
    )
    app[IDEMPOTENCY_KEYS] = IdempotencyKeys(database)
    app[ACCOUNTS] = Accounts(app[USERS], app[FIREBASE_AUTH])
    _wire_push(app, settings, service_account, project_id, database)
    app[AUDIT_LOG] = AuditLog(database)
    partners: dict[str, Partner] = app[PARTNERS]
    app[ADMIN_SERVICE] = AdminService(app[USERS], app[DEVICES], app[FIREBASE_AUTH], app[AUDIT_LOG], partners)

    app.cleanup_ctx.append(_mongodb)
    app.cleanup_ctx.append(_login_locks)
    app.cleanup_ctx.append(_outbound)
    app.cleanup_ctx.append(_delivery_worker)
    app.on_cleanup.append(_stop_thread_pools)
    app.on_response_prepare.append(_no_store_by_default)
    add_routes(app)
    setup_cors(app)
    return app


async def _no_store_by_default(request: web.Request, response: web.StreamResponse) -> None:
    """Answers carry credentials (custom, ID and refresh tokens, API keys) or personal data: no
    cache — browser, proxy or CDN — may keep one (RFC 6749 §5.1, RFC 9111 §5.2.2.5). A handler
    that sets its own Cache-Control keeps it."""
    response.headers.setdefault("Cache-Control", "no-store")


def _wire_push(
    app: web.Application,
    settings: Settings,
    service_account: credentials.Certificate,
    project_id: str,
    database: AsyncDatabase[Document],
) -> None:
    app[DEVICES] = DeviceStore(database, settings.max_devices_per_user)
    app[OUTBOX] = Outbox(database)
    tokens = AccessTokens(service_account, settings.fcm_token_url, timeout_seconds=FCM_TIMEOUT_SECONDS)
    app[FCM_SENDER] = FcmSender(
        app[OUTBOUND],
        settings.fcm_url,
        project_id,
        tokens,
        max_attempts=settings.push_max_attempts,
        backoff_seconds=settings.push_backoff_seconds,
        timeout_seconds=FCM_TIMEOUT_SECONDS,
    )
    app[DELIVERY_WORKER] = DeliveryWorker(
        app[OUTBOX],
        app[DEVICES],
        app[FCM_SENDER],
        concurrency=settings.push_concurrency,
        poll_seconds=settings.push_poll_seconds,
        lease=timedelta(seconds=settings.push_lease_seconds),
        give_up=timedelta(seconds=settings.push_give_up_seconds),
    )
    worker = app[DELIVERY_WORKER] if settings.push_worker else None
    app[NOTIFICATIONS] = Notifications(app[USERS], app[DEVICES], app[OUTBOX], worker)


async def _delivery_worker(app: web.Application) -> AsyncIterator[None]:
    """Runs after MongoDB and the HTTP session are up, and stops before they close."""
    if app[SETTINGS].push_worker:
        app[DELIVERY_WORKER].start()
    yield
    await app[DELIVERY_WORKER].stop()


async def _mongodb(app: web.Application) -> AsyncIterator[None]:
    try:
        await app[USERS].ensure_indexes()
        await app[USED_TOKENS].ensure_indexes()
        await app[LOGIN_ATTEMPTS].ensure_indexes()
        await app[IDEMPOTENCY_KEYS].ensure_indexes()
        await app[DEVICES].ensure_indexes()
        await app[OUTBOX].ensure_indexes()
        await app[AUDIT_LOG].ensure_indexes()
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
    app[SIGNING_POOL].shutdown(wait=True)
    app[FIREBASE_POOL].shutdown(wait=True, cancel_futures=True)
    app[FIREBASE_AUTH].close()
