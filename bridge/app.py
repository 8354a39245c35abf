"""The app factory: wires settings, partners, MongoDB, Firebase and routes into one aiohttp app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web

from bridge import __version__
from bridge.api.routes import add_routes
from bridge.components import (
    HTTP_SESSION,
    MONGO_CLIENT,
    PARTNERS,
    SETTINGS,
    SIGNING_POOL,
    TOKEN_MINTER,
    USERS,
)
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.service_account import load_service_account
from bridge.partners import build_partners
from bridge.problems import error_middleware
from bridge.request_log import request_log_middleware, tag_log_records_with_request_id
from bridge.settings import Settings
from bridge.users import UserStore, open_client, try_ensure_indexes

OUTGOING_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)


def create_app(settings: Settings) -> web.Application:
    """Build the app. Configuration mistakes raise ConfigError here, before anything listens."""
    tag_log_records_with_request_id()
    app = web.Application(
        middlewares=[request_log_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[PARTNERS] = build_partners(settings.partners)
    service_account = load_service_account(settings.service_account_path())
    signing_pool = ThreadPoolExecutor(settings.signing_threads, thread_name_prefix="sign")
    app[SIGNING_POOL] = signing_pool
    app[TOKEN_MINTER] = CustomTokenMinter(service_account, signing_pool)
    app.cleanup_ctx.append(_mongodb)
    app.cleanup_ctx.append(_http_session)
    app.on_cleanup.append(_stop_signing_pool)
    add_routes(app)
    return app


async def _mongodb(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = open_client(settings.mongodb_uri, settings.mongodb_timeout_ms)
    app[MONGO_CLIENT] = client
    app[USERS] = UserStore(client[settings.mongodb_database])
    await try_ensure_indexes(app[USERS])
    yield
    await client.close()


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(timeout=OUTGOING_TIMEOUT, headers={"User-Agent": f"bridge/{__version__}"})
    app[HTTP_SESSION] = session
    yield
    await session.close()


async def _stop_signing_pool(app: web.Application) -> None:
    app[SIGNING_POOL].shutdown(wait=True)
