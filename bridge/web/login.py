"""POST /v1/login: a partner credential in, a Firebase custom token (and optionally a session) out."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.partners import Partner
from bridge.partners.base import Credential, Presented
from bridge.partners.config import PARTNER_ID_PATTERN
from bridge.services.logins import LoginResult
from bridge.web import schemas
from bridge.web.answers import json_answer, token_answer
from bridge.web.bodies import bearer_token, client_address, read_body
from bridge.web.contract import RouteTable
from bridge.web.failures import problem_for
from bridge.web.keys import LOGINS, PARTNERS, SETTINGS
from bridge.web.problems import unknown_partner

MAX_TOKEN_CHARS = 65536
MAX_FIELD_CHARS = 8192

routes = RouteTable("login")


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


def _credential(request: web.Request, partner: Partner, body: LoginBody) -> Credential:
    presented = Presented(
        f"Partner {partner.id!r}", body.username, body.password, body.token, bearer_token(request)
    )
    return partner.credential_from(presented)


async def log_in(
    request: web.Request, partner: Partner, credential: Credential, *, with_session: bool = False
) -> LoginResult:
    """Run the login pipeline (which counts and logs its outcome). A failure is raised as its
    problem (bridge.web.failures), caused by the domain error; an unknown one as it is."""
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    try:
        result = await request.app[LOGINS].login(
            partner, credential, with_session=with_session, client_address=address
        )
    except Exception as error:
        problem = problem_for(error, partner.id)
        if problem is None:
            raise
        raise problem from error
    return result


@routes.post(
    "/v1/login",
    summary="Log in with a partner credential; get a Firebase custom token",
    body=LoginBody,
    responses={200: schemas.LoginAnswer},
    errors=(400, 401, 403, 409, 413, 422, 429, 501, 502, 503, 504),
    description="`token` for jwt/oidc partners (or `Authorization: Bearer`), `username` + `password` "
    "for password partners. `session: true` also returns a Firebase session. A rejected request "
    "writes nothing. A 503 after the credential was accepted (MongoDB or Firebase down or past its "
    "timeout) may leave the user record created or refreshed, but the login is not counted and a "
    "single-use token is given back: retry with the same token.",
)
async def login(request: web.Request) -> web.Response:
    body = await read_body(request, LoginBody)
    partner = partner_named(request, body.partner)
    credential = _credential(request, partner, body)
    result = await log_in(request, partner, credential, with_session=body.session)
    return json_answer(login_answer(result))


def login_answer(result: LoginResult) -> schemas.LoginAnswer:
    return token_answer(schemas.LoginAnswer, result.user, result.custom_token, result.session)
