"""Firebase sessions: exchange, refresh, session cookies, who am I, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.identity import unverified_text_claim
from bridge.partners import tenant_of
from bridge.store.users import public_user
from bridge.web.access import FIREBASE_CLAIMS, USER, requires_user
from bridge.web.bodies import read_body
from bridge.web.failures import answered
from bridge.web.keys import FIREBASE_AUTH, PARTNERS, SESSION_API, SETTINGS, USERS

MIN_COOKIE_SECONDS = 5 * 60
MAX_COOKIE_SECONDS = 14 * 24 * 3600
Token = Annotated[str, Field(min_length=1, max_length=16384)]


class ExchangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    custom_token: Token


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    refresh_token: Token


class CookieBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id_token: Token
    # Seconds, 5 minutes to 14 days (Firebase's limits).
    expires_in: Annotated[int, Field(ge=MIN_COOKIE_SECONDS, le=MAX_COOKIE_SECONDS)]


def _tenant_of(custom_token: str) -> str | None:
    """The tenant a custom token names (Google checks the token itself; this only routes it)."""
    return unverified_text_claim(custom_token, "tenant_id")


async def exchange(request: web.Request) -> web.Response:
    body = await read_body(request, ExchangeBody)
    api = request.app[SESSION_API]
    session = await answered(api.sign_in(body.custom_token, _tenant_of(body.custom_token)))
    return web.json_response(session.as_json())


async def refresh(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshBody)
    session = await answered(request.app[SESSION_API].refresh(body.refresh_token))
    return web.json_response(session.as_json())


async def create_cookie(request: web.Request) -> web.Response:
    body = await read_body(request, CookieBody)
    firebase = request.app[FIREBASE_AUTH]
    cookie = await answered(firebase.create_session_cookie(body.id_token, timedelta(seconds=body.expires_in)))
    settings = request.app[SETTINGS]
    response = web.json_response({"cookie": settings.session_cookie_name, "expires_in": body.expires_in})
    response.set_cookie(
        settings.session_cookie_name,
        cookie,
        max_age=body.expires_in,
        domain=settings.session_cookie_domain,
        path="/",
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite=settings.session_cookie_samesite,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@requires_user
async def me(request: web.Request) -> web.Response:
    claims, user = request[FIREBASE_CLAIMS], request[USER]
    return web.json_response(
        {
            "user": public_user(user),
            "firebase": {
                "uid": claims["uid"],
                "sign_in_provider": claims.get("firebase", {}).get("sign_in_provider"),
                "auth_time": claims.get("auth_time"),
            },
        }
    )


@requires_user
async def logout(request: web.Request) -> web.Response:
    user = request[USER]
    tenant = tenant_of(request.app[PARTNERS], user.partner)
    await answered(request.app[FIREBASE_AUTH].revoke_refresh_tokens(user.uid, tenant))
    await request.app[USERS].revoke_sessions(user.uid)
    settings = request.app[SETTINGS]
    response = web.json_response({"uid": user.uid, "sessions_revoked": True})
    response.del_cookie(settings.session_cookie_name, domain=settings.session_cookie_domain, path="/")
    return response
