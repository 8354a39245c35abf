"""Typed keys for the components the app wires together (see app.create_app)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
from aiohttp import web
from pymongo import AsyncMongoClient

from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.partners import Partner
from bridge.settings import Settings
from bridge.users import UserStore

SETTINGS = web.AppKey("settings", Settings)
PARTNERS = web.AppKey("partners", dict[str, Partner])
MONGO_CLIENT = web.AppKey("mongo_client", AsyncMongoClient[dict[str, Any]])
USERS = web.AppKey("users", UserStore)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
SIGNING_POOL = web.AppKey("signing_pool", ThreadPoolExecutor)
TOKEN_MINTER = web.AppKey("token_minter", CustomTokenMinter)
