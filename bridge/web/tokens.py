"""Backend routes for tokens: mint a custom token for an existing user; who is this API key."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.partners.config import PARTNER_ID_PATTERN
from bridge.services.tokens import enabled, mint_for, user_by_external_id, visible_to
from bridge.web import schemas
from bridge.web.access import API_KEY, key_bound_to_partner, requires_scope
from bridge.web.answers import json_answer, token_answer
from bridge.web.bodies import read_body
from bridge.web.contract import RouteTable
from bridge.web.keys import PARTNERS, TOKEN_MINTER, USERS

routes = RouteTable("accounts")


class CustomTokenBody(BaseModel):
    """A user by uid, or by partner and external id."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["uid"],
                    "properties": {
                        "uid": {"type": "string"},
                        "partner": {"type": "null"},
                        "external_id": {"type": "null"},
                    },
                },
                {
                    "required": ["partner", "external_id"],
                    "properties": {
                        "uid": {"type": "null"},
                        "partner": {"type": "string"},
                        "external_id": {"type": "string"},
                    },
                },
            ]
        },
    )

    uid: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    partner: Annotated[str, Field(pattern=PARTNER_ID_PATTERN)] | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> CustomTokenBody:
        by_uid = self.uid is not None and self.partner is None and self.external_id is None
        by_external = self.uid is None and self.partner is not None and self.external_id is not None
        if not (by_uid or by_external):
            raise ValueError("give either `uid`, or `partner` and `external_id`")
        return self


@routes.post(
    "/v1/custom-tokens",
    summary="Mint a custom token for an existing user",
    auth="key:tokens:mint",
    body=CustomTokenBody,
    responses={200: schemas.CustomTokenAnswer},
    errors=(400, 401, 403, 404),
)
@requires_scope("tokens:mint")
async def mint_custom_token(request: web.Request) -> web.Response:
    body = await read_body(request, CustomTokenBody)
    key = request[API_KEY]
    users, partners = request.app[USERS], request.app[PARTNERS]
    if body.uid is not None:
        user = visible_to(key, await users.find_by_uid(body.uid), body.uid)
    else:
        assert body.partner is not None and body.external_id is not None
        if not key.may_act_for(body.partner):
            raise key_bound_to_partner(key)
        user = await user_by_external_id(users, partners, key, body.partner, body.external_id)
    minted = await mint_for(request.app[TOKEN_MINTER], partners, enabled(user))
    return json_answer(token_answer(schemas.CustomTokenAnswer, user, minted.custom_token))


@routes.get(
    "/v1/api-keys/me",
    summary="The calling API key",
    auth="key:any",
    responses={200: schemas.ApiKeyInfo},
    errors=(401,),
)
@requires_scope(None)
async def current_api_key(request: web.Request) -> web.Response:
    key = request[API_KEY]
    return json_answer(
        schemas.ApiKeyInfo(key_id=key.key_id, name=key.name, scopes=sorted(key.scopes), partner=key.partner)
    )
