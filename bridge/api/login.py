"""POST /v1/login: a partner credential in, a Firebase custom token out."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.api.bodies import bearer_token, client_address, read_body
from bridge.attempts import LockedOut
from bridge.components import LOGINS, PARTNERS, SETTINGS
from bridge.firebase.custom_tokens import CUSTOM_TOKEN_LIFETIME_SECONDS
from bridge.identity import ClaimsTooLarge
from bridge.logins import LoginResult
from bridge.partners import Partner
from bridge.partners.base import (
    Credential,
    CredentialRejected,
    CredentialReplayed,
    KeysUnavailable,
    PartnerToken,
    PasswordLogin,
    WrongCredentialKind,
)
from bridge.partners.config import PARTNER_ID_PATTERN, PasswordPartnerConfig
from bridge.partners.password import PartnerLoginFailed
from bridge.problems import Problem, bad_request, invalid_credential, unknown_partner
from bridge.users import public_user

log = logging.getLogger("bridge.login")

MAX_TOKEN_CHARS = 65536
MAX_FIELD_CHARS = 8192


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS)] | None = None


def partner_named(request: web.Request, partner_id: str) -> Partner:
    partner = request.app[PARTNERS].get(partner_id)
    if partner is None:
        raise unknown_partner(partner_id)
    return partner


def _credential(request: web.Request, partner: Partner, body: LoginBody) -> Credential:
    if isinstance(partner.config, PasswordPartnerConfig):
        trusted = request.app[SETTINGS].trusted_proxies
        if body.username is None or body.password is None or body.token is not None:
            raise bad_request(f"Partner {partner.id!r} takes `username` and `password`.")
        return PasswordLogin(body.username, body.password, client_address(request, trusted))
    if body.username is not None or body.password is not None:
        raise bad_request(f"Partner {partner.id!r} takes a `token`, not a username and password.")
    header_token = bearer_token(request)
    if body.token and header_token and body.token != header_token:
        raise bad_request("Send the token in the body or in the Authorization header, not both.")
    token = body.token or header_token
    if not token:
        raise bad_request("A token is required (body field `token` or `Authorization: Bearer`).")
    return PartnerToken(token)


async def log_in(request: web.Request, partner: Partner, credential: Credential) -> LoginResult:
    """Run the login pipeline, turning each way it can fail into its problem (shared by every
    login route)."""
    try:
        return await request.app[LOGINS].login(partner, credential)
    except CredentialReplayed:
        log.info("login rejected", extra={"partner": partner.id, "reason": "token has already been used"})
        raise Problem(
            401, "token-already-used", "Invalid credential", "token has already been used"
        ) from None
    except CredentialRejected as rejection:
        log.info("login rejected", extra={"partner": partner.id, "reason": str(rejection)})
        raise invalid_credential() from None
    except WrongCredentialKind as error:
        raise bad_request(f"Partner {partner.id!r}: {error}.") from None
    except ClaimsTooLarge as error:
        log.warning("login refused: claims too large", extra={"partner": partner.id})
        raise Problem(422, "claims-too-large", "Claims too large", str(error)) from None
    except LockedOut as locked:
        log.warning("login refused: too many failures", extra={"partner": partner.id})
        raise Problem(
            429,
            "too-many-attempts",
            "Too many failed logins",
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(locked.retry_after)},
        ) from None
    except KeysUnavailable as error:
        log.warning("partner keys unavailable", extra={"partner": partner.id, "error": str(error)})
        raise Problem(
            503,
            "partner-keys-unavailable",
            "Service unavailable",
            "The partner's signing keys cannot be fetched; try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    except PartnerLoginFailed as error:
        log.warning("partner login API failed", extra={"partner": partner.id, "error": str(error)})
        if error.timed_out:
            raise Problem(
                504,
                "partner-timeout",
                "Partner timeout",
                "The partner's login service did not answer in time.",
            ) from None
        raise Problem(
            502,
            "partner-unavailable",
            "Partner unavailable",
            "The partner's login service is not working; try again later.",
        ) from None


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    partner = partner_named(request, body.partner)
    result = await log_in(request, partner, _credential(request, partner, body))
    return web.json_response(login_answer(result))


def login_answer(result: LoginResult) -> dict[str, Any]:
    return {
        "user": public_user(result.user),
        "token_type": "Bearer",
        "custom_token": result.custom_token,
        "jwt_token": result.custom_token,  # alias for apps built on the FlutterFlow-style contract
        "expires_in": CUSTOM_TOKEN_LIFETIME_SECONDS,
    }
