"""POST /v1/accounts: partner backends create users in MongoDB and Firebase Auth at once."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bridge.identity import check_claims
from bridge.partners.config import PARTNER_ID_PATTERN
from bridge.services.accounts import NewAccount
from bridge.services.admin import UserNotFound
from bridge.services.tokens import mint_for
from bridge.store.idempotency import fingerprint
from bridge.web import schemas
from bridge.web.access import API_KEY, key_bound_to_partner, requires_scope
from bridge.web.answers import json_answer, token_answer
from bridge.web.bodies import read_body
from bridge.web.contract import RouteTable
from bridge.web.failures import IDEMPOTENCY_HEADER
from bridge.web.keys import ACCOUNTS, IDEMPOTENCY_KEYS, PARTNERS, SESSION_API, TOKEN_MINTER, USERS
from bridge.web.login import partner_named
from bridge.web.problems import bad_request

routes = RouteTable("accounts")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,255}")
# Checked by pydantic's (Rust) regex engine and stated in the contract: one reading of `\s` for
# both (Python's `re` also counts \x1c-\x1f as blanks, which JSON Schema tools do not).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class AccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)]
    external_id: Annotated[str, Field(min_length=1, max_length=1024)]
    email: Annotated[str, Field(max_length=320, pattern=EMAIL_PATTERN)] | None = None
    display_name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    phone: Annotated[str, Field(pattern=E164_PATTERN)] | None = None
    claims: dict[str, Any] | None = None
    disabled: bool = False
    session: bool = False

    @field_validator("claims")
    @classmethod
    def _claims_within_firebase_rules(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_claims(value)
        return value


@routes.post(
    "/v1/accounts",
    summary="Create an account in MongoDB and Firebase Auth",
    auth="key:accounts:write",
    body=AccountBody,
    responses={200: schemas.AccountAnswer, 201: schemas.AccountAnswer},
    errors=(400, 401, 403, 409, 422, 501, 503),
    description="Idempotent per (partner, external_id); honours `Idempotency-Key`.",
)
@requires_scope("accounts:write")
async def create_account(request: web.Request) -> web.Response:
    body = await read_body(request, AccountBody)
    if not request[API_KEY].may_act_for(body.partner):
        raise key_bound_to_partner(request[API_KEY])
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        status, result = await _create(request, body)
        return json_answer(await _answer(request, body, result), status=status)
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise bad_request(f"{IDEMPOTENCY_HEADER} must be 1-255 of A-Z a-z 0-9 . _ : -")
    return await _create_once(
        request, body, key, fingerprint(request.method, request.path, body.model_dump(mode="json"))
    )


async def _create_once(
    request: web.Request, body: AccountBody, key: str, request_fingerprint: str
) -> web.Response:
    store, caller = request.app[IDEMPOTENCY_KEYS], request[API_KEY].key_id
    replay = await store.begin(caller, key, request_fingerprint)
    if replay is not None:
        response = json_answer(await _answer(request, body, replay.result), status=replay.status)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        status, result = await _create(request, body)
    except BaseException:
        await store.abandon(caller, key)
        raise
    await store.finish(caller, key, status, result)
    return json_answer(await _answer(request, body, result), status=status)


async def _create(request: web.Request, body: AccountBody) -> tuple[int, dict[str, Any]]:
    partner = partner_named(request, body.partner)
    account = NewAccount(
        partner.external_id_of(body.external_id),
        body.email,
        body.display_name,
        body.phone,
        body.claims,
        body.disabled,
    )
    user, created = await request.app[ACCOUNTS].create(partner, account)
    return (201 if created else 200), {"uid": user.uid, "created": created}


async def _answer(request: web.Request, body: AccountBody, result: dict[str, Any]) -> schemas.AccountAnswer:
    """The user as it is now, with a fresh custom token (and session if asked)."""
    user = await request.app[USERS].find_by_uid(result["uid"])
    if user is None:
        raise UserNotFound(result["uid"], "The account no longer exists.")
    minted = await mint_for(request.app[TOKEN_MINTER], request.app[PARTNERS], user)
    session = None
    if body.session:
        session = await request.app[SESSION_API].sign_in(minted.custom_token, minted.tenant)
    return token_answer(schemas.AccountAnswer, user, minted.custom_token, session, created=result["created"])
