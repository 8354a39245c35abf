"""A partner's own route (`[partners.X.route]`), answering in its platform's contract.

The route names its partner, so no `partner` field is needed; its request fields are renamed as the
platform sends them (`fields = { username = "email" }`), and token partners also take the token as
`Authorization: Bearer` with an empty body. Contracts:

- `bridge`       the answer of POST /v1/login;
- `flutterflow`  FlutterFlow's JWT login API: `{user: {id, name, email, ...claims}, token_type,
                 expires_in, jwt_token, refresh_token, token}` (`jwt_token` = `token` = the custom
                 token, `refresh_token` a real Firebase refresh token);
- `strapi`       Strapi's `/api/auth/local`: `{jwt, user}` where `jwt` is a Firebase ID token (what
                 the app sends as Bearer to /v1/me and its own backend), with `custom_token`,
                 `refresh_token` and `expires_in` beside it;
- `redirect`     a GET browser redirect login, DeveloperHub style (`LOGIN_URL?jwt=<token>`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, create_model

from bridge.firebase.custom_tokens import CUSTOM_TOKEN_LIFETIME_SECONDS
from bridge.identity import claim_value
from bridge.partners import Partner
from bridge.partners.base import Credential, Presented
from bridge.partners.config import ConfigError, JwtRules, RouteConfig
from bridge.services.logins import LoginResult
from bridge.store.users import public_user
from bridge.web import schemas
from bridge.web.answers import json_answer
from bridge.web.bodies import bearer_token, read_body
from bridge.web.contract import REDIRECT, Handler, Route, RouteTable
from bridge.web.keys import PARTNERS, SETTINGS
from bridge.web.login import MAX_FIELD_CHARS, MAX_TOKEN_CHARS, log_in, login_answer
from bridge.web.redirect_login import (
    RefusalTexts,
    allowed_targets,
    error_redirect,
    failure_page,
    run_redirect_login,
)
from bridge.web.redirect_target import redirect_allowed

# Contracts whose answer carries a Firebase session (ID and refresh token).
SESSION_CONTRACTS = frozenset({"flutterflow", "strapi"})
CONTRACT_ANSWERS: dict[str, type[BaseModel]] = {
    "bridge": schemas.LoginAnswer,
    "flutterflow": schemas.FlutterFlowAnswer,
    "strapi": schemas.StrapiAnswer,
}
# A JSON-safe integer: partner ids within it are answered as numbers.
MAX_SAFE_INTEGER = 2**53 - 1


def partner_routes(app: web.Application) -> list[Route]:
    """One route per partner that declares one, in its contract. Raises ConfigError for a path
    bridge uses (call after bridge's own routes are added) or a contract this bridge cannot serve
    (sessions without BRIDGE_FIREBASE_WEB_API_KEY)."""
    taken = {resource.canonical for resource in app.router.resources()}
    table = RouteTable("partner routes")
    for partner in app[PARTNERS].values():
        route = partner.route
        if route is None:
            continue
        _check_servable(partner, route, taken, app[SETTINGS].firebase_web_api_key)
        if route.contract == "redirect":
            _declare_redirect(table, partner, route)
        else:
            _declare_login(table, partner, route)
    return list(table)


def _check_servable(partner: Partner, route: RouteConfig, taken: set[str], web_api_key: str | None) -> None:
    if route.path in taken:
        raise ConfigError(f"partner {partner.id!r}, field 'route': {route.path} is a path bridge uses")
    if route.contract in SESSION_CONTRACTS and not web_api_key:
        raise ConfigError(
            f"partner {partner.id!r}, field 'route': the {route.contract} contract answers a "
            "Firebase refresh token, so it needs BRIDGE_FIREBASE_WEB_API_KEY"
        )


def _declare_redirect(table: RouteTable, partner: Partner, route: RouteConfig) -> None:
    rules = partner.redirect_rules
    assert rules is not None  # the partners file allows the redirect contract only with them
    token_param = rules.token_param
    table.add(
        "GET",
        route.path,
        _redirect_handler(partner),
        summary=f"Partner {partner.id}: browser redirect login (token in `{token_param}`)",
        responses={302: REDIRECT, 401: "text/html"},
        # No HEAD: a link prefetcher must not spend a single-use token.
        allow_head=False,
    )


def _declare_login(table: RouteTable, partner: Partner, route: RouteConfig) -> None:
    model = _body_model(partner, route)
    table.add(
        "POST",
        route.path,
        _login_handler(partner, route, model),
        summary=f"Partner {partner.id}: log in, answered in the {route.contract} contract",
        body=model,
        responses={200: CONTRACT_ANSWERS[route.contract]},
        errors=(400, 401, 403, 413, 422, 429, 502, 503, 504),
        description="Token partners may send `Authorization: Bearer <token>` with an empty body.",
    )


# --- login contracts -----------------------------------------------------------------------------
def _body_model(partner: Partner, route: RouteConfig) -> type[BaseModel]:
    """The route's body: exactly its (renamed) fields, strictly typed; unknown fields are refused."""
    names = route.field_names(partner.credential_fields)
    limit = MAX_TOKEN_CHARS if "token" in names else MAX_FIELD_CHARS
    fields: dict[str, Any] = {
        name: (str | None, Field(default=None, alias=alias, min_length=1, max_length=limit))
        for name, alias in names.items()
    }
    if route.contract == "bridge":
        fields["session"] = (bool, False)
    model: type[BaseModel] = create_model(
        f"RouteBody_{partner.id}",
        __config__=ConfigDict(extra="forbid", strict=True),
        **fields,
    )
    return model


def _credential(request: web.Request, partner: Partner, body: dict[str, Any]) -> Credential:
    route = partner.route
    assert route is not None
    names = route.field_names(partner.credential_fields)
    presented = Presented(
        "This route",
        body.get("username"),
        body.get("password"),
        body.get("token"),
        bearer_token(request),
        names,
    )
    return partner.credential_from(presented)


def _login_handler(partner: Partner, route: RouteConfig, model: type[BaseModel]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        # Token partners take `Authorization: Bearer` with an empty body.
        body = (await read_body(request, model)).model_dump() if request.body_exists else {}
        credential = _credential(request, partner, body)
        with_session = route.contract in SESSION_CONTRACTS or bool(body.get("session"))
        result = await log_in(request, partner, credential, with_session=with_session)
        answer = {
            "flutterflow": flutterflow_answer,
            "strapi": strapi_answer,
        }.get(route.contract, lambda _partner, result: login_answer(result))(partner, result)
        return json_answer(answer)

    handler.__name__ = f"partner_route_{partner.id}"
    return handler


def partner_user_id(partner: Partner, result: LoginResult) -> int | str:
    """The partner's own user id: a JSON number when the partner's id is one (Strapi, SQL ids)."""
    external_id = result.user.external_id
    if result.identity is not None:
        value = claim_value(result.identity.claims, partner.user_id_path)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SAFE_INTEGER:
            return value
    return external_id


def _mapped_claims(partner: Partner, result: LoginResult, taken: set[str]) -> dict[str, Any]:
    claims = result.user.claims or {}
    return {name: claims[name] for name in partner.mapped_claim_names if name in claims and name not in taken}


def flutterflow_answer(partner: Partner, result: LoginResult) -> schemas.FlutterFlowAnswer:
    assert result.session is not None
    user: dict[str, Any] = {
        "id": partner_user_id(partner, result),
        "name": result.user.display_name,
        "email": result.user.email,
    }
    user.update(_mapped_claims(partner, result, set(user)))
    return schemas.FlutterFlowAnswer.model_validate(
        {
            "user": user,
            "token_type": "Bearer",
            "expires_in": CUSTOM_TOKEN_LIFETIME_SECONDS,
            "jwt_token": result.custom_token,
            "refresh_token": result.session.refresh_token,
            "token": result.custom_token,
        }
    )


def strapi_answer(partner: Partner, result: LoginResult) -> schemas.StrapiAnswer:
    assert result.session is not None
    record, public = result.user, public_user(result.user)
    user: dict[str, Any] = {
        "id": partner_user_id(partner, result),
        "username": record.display_name or record.external_id,
        "email": record.email,
        "uid": record.uid,
        "blocked": record.disabled,
        "createdAt": public["created_at"],
        "updatedAt": public["updated_at"],
    }
    user.update(_mapped_claims(partner, result, set(user)))
    return schemas.StrapiAnswer.model_validate(
        {
            "jwt": result.session.id_token,
            "user": user,
            "custom_token": result.custom_token,
            "refresh_token": result.session.refresh_token,
            "expires_in": result.session.expires_in,
        }
    )


# --- redirect contract (DeveloperHub style) --------------------------------------------------------
async def _error_url(partner: Partner, rules: JwtRules, token: str) -> str | None:
    """Where a failed redirect login goes: with error_redirect_from_token, the token's own
    `error_redirect_url` — only when its signature verified with the partner's key and the URL
    passes the partner's allow-list; else the configured error_redirect_url."""
    if rules.error_redirect_from_token and token:
        claims = await partner.signed_claims(token)
        candidate = claims.get("error_redirect_url") if claims else None
        configured = [rules.error_redirect_url] if rules.error_redirect_url else []
        allowed = [*allowed_targets(rules), *configured]
        if isinstance(candidate, str) and redirect_allowed(candidate, allowed):
            return candidate
    return rules.error_redirect_url


async def _redirect_failure(
    request: web.Request, partner: Partner, rules: JwtRules, token: str, message: str
) -> web.Response:
    url = await _error_url(partner, rules, token)
    return error_redirect(url, rules.error_param, message) if url else failure_page(request, message)


PARTNER_REFUSALS = RefusalTexts("Redirect address not allowed", "Invalid token")


def _redirect_handler(partner: Partner) -> Handler:
    rules = partner.redirect_rules
    assert rules is not None  # the partners file allows the redirect contract only with them

    async def handler(request: web.Request) -> web.Response:
        async def fail(message: str) -> web.Response:
            token = request.query.get(rules.token_param, "")
            return await _redirect_failure(request, partner, rules, token, message)

        return await run_redirect_login(request, partner, rules, rules.token_param, fail, PARTNER_REFUSALS)

    handler.__name__ = f"partner_redirect_{partner.id}"
    return handler
