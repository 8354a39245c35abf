"""Firebase sessions: exchange, refresh, session cookies, who am I, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.firebase.sessions import Session
from bridge.identity import unverified_text_claim
from bridge.partners import tenant_of
from bridge.store.users import public_user
from bridge.web import schemas
from bridge.web.access import FIREBASE_CLAIMS, USER, requires_user
from bridge.web.answers import json_answer
from bridge.web.bodies import read_body
from bridge.web.contract import RouteTable
from bridge.web.keys import FIREBASE_AUTH, PARTNERS, SESSION_API, SETTINGS, USERS

MIN_COOKIE_SECONDS = 5 * 60
MAX_COOKIE_SECONDS = 14 * 24 * 3600
routes = RouteTable("sessions")
USER_ERRORS = (401, 503)
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


# Both session routes answer a Firebase session, or refuse it the same ways (501: no Web API key).
SESSION_ERRORS = (400, 401, 501, 503)


def _session_answer(session: Session) -> web.Response:
    return json_answer(schemas.Session.model_validate(session.as_json()))


def _tenant_of(custom_token: str) -> str | None:
    """The tenant a custom token names (Google checks the token itself; this only routes it)."""
    return unverified_text_claim(custom_token, "tenant_id")


@routes.post(
    "/v1/sessions",
    summary="Exchange a custom token for a Firebase session",
    body=ExchangeBody,
    responses={200: schemas.Session},
    errors=SESSION_ERRORS,
)
async def exchange(request: web.Request) -> web.Response:
    body = await read_body(request, ExchangeBody)
    api = request.app[SESSION_API]
    return _session_answer(await api.sign_in(body.custom_token, _tenant_of(body.custom_token)))


@routes.post(
    "/v1/sessions/refresh",
    summary="Refresh a Firebase session",
    body=RefreshBody,
    responses={200: schemas.Session},
    errors=SESSION_ERRORS,
)
async def refresh(request: web.Request) -> web.Response:
    body = await read_body(request, RefreshBody)
    return _session_answer(await request.app[SESSION_API].refresh(body.refresh_token))


@routes.post(
    "/v1/sessions/cookie",
    summary="Set a session cookie from an ID token",
    body=CookieBody,
    responses={200: schemas.CookieAnswer},
    errors=(400, 401, 503),
)
async def create_cookie(request: web.Request) -> web.Response:
    body = await read_body(request, CookieBody)
    firebase = request.app[FIREBASE_AUTH]
    cookie = await firebase.create_session_cookie(body.id_token, timedelta(seconds=body.expires_in))
    settings = request.app[SETTINGS]
    response = json_answer(
        schemas.CookieAnswer(cookie=settings.session_cookie_name, expires_in=body.expires_in)
    )
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
    return response


@routes.get("/v1/me", summary="Who am I", auth="user", responses={200: schemas.MeAnswer}, errors=USER_ERRORS)
@requires_user
async def me(request: web.Request) -> web.Response:
    claims, user = request[FIREBASE_CLAIMS], request[USER]
    firebase = schemas.FirebaseIdentity(
        uid=claims["uid"],
        sign_in_provider=claims.get("firebase", {}).get("sign_in_provider"),
        auth_time=claims.get("auth_time"),
    )
    return json_answer(schemas.MeAnswer.model_validate({"user": public_user(user), "firebase": firebase}))


@routes.post(
    "/v1/logout",
    summary="Revoke the user's sessions and clear the cookie",
    auth="user",
    responses={200: schemas.LogoutAnswer},
    errors=USER_ERRORS,
)
@requires_user
async def logout(request: web.Request) -> web.Response:
    user = request[USER]
    tenant = tenant_of(request.app[PARTNERS], user.partner)
    await request.app[FIREBASE_AUTH].revoke_refresh_tokens(user.uid, tenant)
    await request.app[USERS].revoke_sessions(user.uid)
    settings = request.app[SETTINGS]
    response = json_answer(schemas.LogoutAnswer(uid=user.uid, sessions_revoked=True))
    response.del_cookie(settings.session_cookie_name, domain=settings.session_cookie_domain, path="/")
    return response
