"""POST /v1/login: a partner credential in, a Firebase custom token out."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.api.bodies import bearer_token, read_body
from bridge.components import PARTNERS, TOKEN_MINTER, USERS
from bridge.firebase.custom_tokens import CUSTOM_TOKEN_LIFETIME_SECONDS
from bridge.identity import ClaimsTooLarge
from bridge.partners import Partner
from bridge.partners.base import CredentialRejected, PartnerToken, WrongCredentialKind
from bridge.partners.config import PARTNER_ID_PATTERN
from bridge.problems import Problem, bad_request, invalid_credential, unknown_partner
from bridge.users import public_user

log = logging.getLogger("bridge.login")

MAX_TOKEN_CHARS = 65536


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)] | None = None


def _credential(request: web.Request, body: LoginBody) -> PartnerToken:
    header_token = bearer_token(request)
    if body.token and header_token and body.token != header_token:
        raise bad_request("Send the token in the body or in the Authorization header, not both.")
    token = body.token or header_token
    if not token:
        raise bad_request("A token is required (body field `token` or `Authorization: Bearer`).")
    return PartnerToken(token)


def _partner(request: web.Request, partner_id: str) -> Partner:
    partner = request.app[PARTNERS].get(partner_id)
    if partner is None:
        raise unknown_partner(partner_id)
    return partner


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    partner = _partner(request, body.partner)
    credential = _credential(request, body)
    try:
        identity = await partner.verifier.verify(credential)
    except CredentialRejected as rejection:
        log.info("login rejected", extra={"partner": partner.id, "reason": str(rejection)})
        raise invalid_credential() from None
    except WrongCredentialKind as error:
        raise bad_request(f"Partner {partner.id!r}: {error}.") from None
    uid = partner.uid_for(identity)
    try:
        claims = partner.developer_claims(identity)
    except ClaimsTooLarge as error:
        log.warning("login refused: claims too large", extra={"partner": partner.id})
        raise Problem(422, "claims-too-large", "Claims too large", str(error)) from None

    # Sign while MongoDB works: the signature runs in the signing pool, the upsert on the network.
    user, custom_token = await asyncio.gather(
        request.app[USERS].record_login(identity, uid, claims),
        request.app[TOKEN_MINTER].mint(uid, claims),
    )
    answer: dict[str, Any] = {
        "user": public_user(user),
        "token_type": "Bearer",
        "custom_token": custom_token,
        "jwt_token": custom_token,  # alias for apps built on the FlutterFlow-style contract
        "expires_in": CUSTOM_TOKEN_LIFETIME_SECONDS,
    }
    return web.json_response(answer)
