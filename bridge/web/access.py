"""Route-level access checks: a route declares the API-key scope it needs, or that it needs a
signed-in user (Firebase ID token or session cookie)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bridge.firebase.auth_admin import IdTokenRejected
from bridge.partners.base import CredentialRejected, KeysUnavailable, PartnerToken, WrongCredentialKind
from bridge.store.api_keys import KEY_PREFIX, SCOPES, ApiKey
from bridge.store.users import UserRecord
from bridge.web.bodies import bearer_token
from bridge.web.failures import log_id_token_rejected
from bridge.web.keys import API_KEYS, FIREBASE_AUTH, PARTNERS, SETTINGS, USERS
from bridge.web.problems import Problem

log = logging.getLogger("bridge.access")

API_KEY = web.RequestKey("api_key", ApiKey)
API_KEY_HEADER = "X-Api-Key"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="bridge"'}
    )


async def authenticate_api_key(request: web.Request) -> ApiKey:
    presented = request.headers.get(API_KEY_HEADER) or bearer_token(request)
    if not presented:
        raise _unauthorized(f"An API key is required (Authorization: Bearer or {API_KEY_HEADER}).")
    key = await request.app[API_KEYS].authenticate(presented)
    if key is None:
        raise _unauthorized("The API key is not valid or has been revoked.")
    return key


def key_bound_to_partner(key: ApiKey) -> Problem:
    return Problem(
        403,
        "forbidden",
        "Forbidden",
        f"This API key acts only on users of partner {key.partner!r}.",
    )


def requires_scope(scope: str | None, *alternatives: str) -> Callable[[Handler], Handler]:
    """Only callers with a live API key holding `scope` or one of `alternatives` (any live key
    when None) reach the handler; the key is in `request[API_KEY]`."""
    accepted = {scope, *alternatives} - {None}
    if accepted - SCOPES:
        raise ValueError(f"unknown scope in {sorted(str(s) for s in accepted)}")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            key = await authenticate_api_key(request)
            if scope is not None and not accepted & key.scopes:
                raise Problem(403, "forbidden", "Forbidden", f"This API key lacks the {scope!r} scope.")
            request[API_KEY] = key
            return await handler(request)

        return checked

    return decorate


FIREBASE_CLAIMS: web.RequestKey[dict[str, Any]] = web.RequestKey("firebase_claims", dict)
USER: web.RequestKey[UserRecord] = web.RequestKey("user", UserRecord)


def _revoked(claims: dict[str, Any], user: UserRecord) -> bool:
    """Firebase's own rule: a session is revoked when it began (`auth_time`, whole seconds) before
    the revocation (whole seconds, like Firebase's `validSince`); one that began in the same second
    is still valid, so logging out and straight back in works. `auth_time` (the original sign-in)
    is compared, so ID tokens refreshed after a revocation are refused too, even where refresh
    tokens outlive it (the Auth emulator)."""
    revoked_at = user.sessions_revoked_at
    if revoked_at is None:
        return False
    began = int(claims.get("auth_time", claims.get("iat", 0)))
    return began < int(revoked_at.timestamp())


async def authenticate_user(request: web.Request) -> tuple[dict[str, Any], UserRecord]:
    """(Firebase claims, bridge user record) of the signed-in caller: `Authorization: Bearer
    <Firebase ID token>` or the session cookie. Anything else is a 401."""
    token = bearer_token(request)
    cookie = request.cookies.get(request.app[SETTINGS].session_cookie_name)
    if not token and not cookie:
        raise _unauthorized(
            "Sign in first: send a Firebase ID token (Authorization: Bearer) or the session cookie."
        )
    firebase = request.app[FIREBASE_AUTH]
    try:
        claims = await (
            firebase.verify_id_token(token) if token else firebase.verify_session_cookie(cookie or "")
        )
    except IdTokenRejected as error:  # (Firebase being unavailable is answered by the middleware)
        log_id_token_rejected(error)
        raise _unauthorized("The ID token or session cookie is not valid.") from None
    user = await request.app[USERS].find_by_uid(claims["uid"])
    if user is None or user.disabled or _revoked(claims, user):
        log.info(
            "user session refused",
            extra={"reason": "unknown user" if user is None else "disabled" if user.disabled else "revoked"},
        )
        raise _unauthorized("The ID token or session cookie is not valid.")
    return claims, user


def requires_user(handler: Handler) -> Handler:
    """Only signed-in users reach the handler; their claims and record are in the request."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        request[FIREBASE_CLAIMS], request[USER] = await authenticate_user(request)
        return await handler(request)

    return checked


ADMIN = web.RequestKey("admin", str)
ADMIN_COOKIE = "bridge_admin"


async def authenticate_admin(request: web.Request) -> str:
    """The admin's name for the audit log: `api-key:<id>` or `partner:<partner>:<user id>`.
    401 without a credential or with an invalid one, 403 with a valid one that is not an admin's."""
    presented = (
        request.headers.get(API_KEY_HEADER) or bearer_token(request) or request.cookies.get(ADMIN_COOKIE)
    )
    if not presented:
        raise _unauthorized(
            "An admin credential is required: an API key with the admin scope, or an admin's partner token."
        )
    if presented.startswith(f"{KEY_PREFIX}_"):
        key = await request.app[API_KEYS].authenticate(presented)
        if key is None:
            raise _unauthorized("The API key is not valid or has been revoked.")
        if "admin" not in key.scopes:
            raise Problem(403, "forbidden", "Forbidden", "This API key lacks the 'admin' scope.")
        return f"api-key:{key.key_id}"
    for partner in request.app[PARTNERS].values():
        if not partner.grants_admin:
            continue
        try:
            identity = await partner.verifier.verify(PartnerToken(presented))
        except (CredentialRejected, WrongCredentialKind, KeysUnavailable):
            continue
        if not partner.is_admin(identity.claims):
            raise Problem(403, "forbidden", "Forbidden", "This token does not grant admin access.")
        return f"partner:{partner.id}:{identity.external_id}"
    log.info("admin credential refused")
    raise _unauthorized("The admin credential is not valid.")


def requires_admin(handler: Handler) -> Handler:
    """Only admins reach the handler; their audit name is in `request[ADMIN]`."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        request[ADMIN] = await authenticate_admin(request)
        return await handler(request)

    return checked
