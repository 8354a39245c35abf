"""Typed keys for the components the app wires together (see app.create_app)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.firebase.sessions import SessionApi
from bridge.infra.outbound import Outbound
from bridge.partners import Partner
from bridge.push.fcm import FcmSender
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
from bridge.store.outbox import Outbox
from bridge.store.used_tokens import UsedTokens
from bridge.store.users import UserStore

SETTINGS = web.AppKey("settings", Settings)
# Set when the process is stopping: /readyz answers 503.
DRAINING = web.AppKey("draining", asyncio.Event)
PARTNERS = web.AppKey("partners", dict[str, Partner])
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient[dict[str, Any]])
USERS = web.AppKey("users", UserStore)
USED_TOKENS = web.AppKey("used_tokens", UsedTokens)
LOGIN_ATTEMPTS = web.AppKey("login_attempts", LoginAttempts)
API_KEYS = web.AppKey("api_keys", ApiKeys)
OUTBOUND = web.AppKey("outbound", Outbound)
SIGNING_POOL = web.AppKey("signing_pool", ThreadPoolExecutor)
TOKEN_MINTER = web.AppKey("token_minter", CustomTokenMinter)
LOGINS = web.AppKey("logins", Logins)
FIREBASE_POOL = web.AppKey("firebase_pool", ThreadPoolExecutor)
FIREBASE_AUTH = web.AppKey("firebase_auth", FirebaseAuth)
SESSION_API = web.AppKey("session_api", SessionApi)
ACCOUNTS = web.AppKey("accounts", Accounts)
IDEMPOTENCY_KEYS = web.AppKey("idempotency_keys", IdempotencyKeys)
DEVICES = web.AppKey("devices", DeviceStore)
OUTBOX = web.AppKey("outbox", Outbox)
FCM_SENDER = web.AppKey("fcm_sender", FcmSender)
DELIVERY_WORKER = web.AppKey("delivery_worker", DeliveryWorker)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
AUDIT_LOG = web.AppKey("audit_log", AuditLog)
ADMIN_SERVICE = web.AppKey("admin_service", AdminService)
