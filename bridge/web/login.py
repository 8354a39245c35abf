"""POST /v1/login: a partner credential in, a Firebase custom token (and optionally a session) out."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.firebase.custom_tokens import CUSTOM_TOKEN_LIFETIME_SECONDS
from bridge.partners import Partner
from bridge.partners.base import Credential, CredentialIncomplete, Presented
from bridge.partners.config import PARTNER_ID_PATTERN
from bridge.services.logins import LoginResult
from bridge.store.users import public_user
from bridge.web.bodies import bearer_token, client_address, read_body
from bridge.web.failures import login_problem
from bridge.web.keys import LOGINS, PARTNERS, SETTINGS
from bridge.web.problems import bad_request, unknown_partner

MAX_TOKEN_CHARS = 65536
MAX_FIELD_CHARS = 8192


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
    token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS)] | None = None
    username: Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=MAX_FIELD_CHARS)] | None = None
    # Also exchange the custom token for a Firebase session (ID token + refresh token).
    session: bool = False


def partner_named(request: web.Request, partner_id: str) -> Partner:
    partner = request.app[PARTNERS].get(partner_id)
    if partner is None:
        raise unknown_partner(partner_id)
    return partner


def credential_of(partner: Partner, presented: Presented) -> Credential:
    """The credential the partner takes from what the request presents, or 400 saying what to send."""
    try:
        return partner.credential_from(presented)
    except CredentialIncomplete as error:
        raise bad_request(str(error)) from None


def _credential(request: web.Request, partner: Partner, body: LoginBody) -> Credential:
    presented = Presented(
        f"Partner {partner.id!r}", body.username, body.password, body.token, bearer_token(request)
    )
    return credential_of(partner, presented)


async def log_in(
    request: web.Request, partner: Partner, credential: Credential, *, with_session: bool = False
) -> LoginResult:
    """Run the login pipeline; each way it can fail becomes its problem+json."""
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    try:
        result = await request.app[LOGINS].login(
            partner, credential, with_session=with_session, client_address=address
        )
    except Exception as error:
        problem = login_problem(error, partner.id)
        if problem is None:
            raise
        raise problem from None
    return result


async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    partner = partner_named(request, body.partner)
    credential = _credential(request, partner, body)
    result = await log_in(request, partner, credential, with_session=body.session)
    return web.json_response(login_answer(result))


def login_answer(result: LoginResult) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "user": public_user(result.user),
        "token_type": "Bearer",
        "custom_token": result.custom_token,
        "jwt_token": result.custom_token,  # alias for apps built on the FlutterFlow-style contract
        "expires_in": CUSTOM_TOKEN_LIFETIME_SECONDS,
    }
    if result.session is not None:
        answer["session"] = result.session.as_json()
        answer["id_token"] = result.session.id_token
        answer["refresh_token"] = result.session.refresh_token
    return answer
