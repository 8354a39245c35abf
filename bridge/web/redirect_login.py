"""GET /v1/login/redirect: the browser flow where a partner sends its user here with a signed token.

On success: 302 to an allow-listed URL with the custom token (and session, if configured) in the
URL fragment, which browsers never send to servers. On failure: 302 to the partner's error URL with
`?error=<short message>`, or a plain 401 page. Never an open redirect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from pydantic import BaseModel, Field

from bridge.firebase.custom_tokens import CUSTOM_TOKEN_LIFETIME_SECONDS
from bridge.partners import Partner
from bridge.partners.base import CredentialExpired, PartnerToken
from bridge.partners.config import JwtRules
from bridge.web.contract import REDIRECT, RouteTable
from bridge.web.keys import PARTNERS
from bridge.web.login import log_in
from bridge.web.pages import render_page
from bridge.web.problems import Problem
from bridge.web.redirect_target import redirect_allowed

log = logging.getLogger("bridge.login")
routes = RouteTable("login")


class RedirectQuery(BaseModel):
    partner: str
    token: str = Field(description="The partner's JWT")
    redirect: str | None = Field(None, description="Where to go afterwards; must match the allow-list")


REDIRECT_NOT_ALLOWED = "redirect-not-allowed"
MISSING_TOKEN = "missing-token"


def log_refusal(partner_id: str, reason: str, code: str) -> None:
    """A redirect login refused before its token is read: the reason and its one-word code go to
    the log like every other refusal's (`login rejected`)."""
    log.info("login rejected", extra={"partner": partner_id, "reason": reason, "code": code})


NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def allowed_targets(rules: JwtRules) -> list[str]:
    return [*rules.redirect_urls, *([rules.default_redirect_url] if rules.default_redirect_url else [])]


def failure_page(request: web.Request, message: str) -> web.Response:
    """The 401 page a browser gets when there is no error address to send it to."""
    return render_page(request, "sign_in_failed.html", {"message": message}, status=401, headers=NO_STORE)


def error_redirect(url: str, param: str, message: str) -> web.Response:
    base = url.split("#", 1)[0]
    separator = "&" if urlsplit(base).query else "?"
    return web.Response(
        status=302, headers={"Location": f"{base}{separator}{urlencode({param: message})}", **NO_STORE}
    )


Failure = Callable[[str], Awaitable[web.Response]]

# Short messages a person may see on the partner's error page after a redirect login (the words
# DeveloperHub-style docs portals show: "Token has already been used", "Token expired", ...).
HUMAN_MESSAGES = {
    "token-already-used": "Token has already been used",
    "invalid-credential": "Invalid token",
    "user-disabled": "Account disabled",
    "uid-conflict": "Account conflict",
    "too-many-attempts": "Too many attempts; try again later",
    "unknown-partner": "Unknown partner",
    "bad-request": "Invalid request",
}


def human_message(problem: Problem) -> str:
    if isinstance(problem.__cause__, CredentialExpired):
        return "Token expired"
    return HUMAN_MESSAGES.get(problem.slug, "Sign-in is unavailable right now")


@dataclass(frozen=True, slots=True)
class RefusalTexts:
    """What the user is shown when the redirect address or the token is refused."""

    not_allowed: str
    no_token: str


APP_REFUSALS = RefusalTexts("redirect address not allowed", "missing token")


async def run_redirect_login(
    request: web.Request,
    partner: Partner,
    rules: JwtRules,
    token_name: str,
    fail: Failure,
    texts: RefusalTexts,
) -> web.Response:
    """The redirect login: check the redirect address and that a token was sent, then log in."""
    token = request.query.get(token_name, "")
    target = request.query.get("redirect") or rules.default_redirect_url
    if not target or not redirect_allowed(target, allowed_targets(rules)):
        log_refusal(partner.id, "redirect address not allowed", REDIRECT_NOT_ALLOWED)
        return await fail(texts.not_allowed)
    if not token:
        log_refusal(partner.id, f"no `{token_name}`", MISSING_TOKEN)
        return await fail(texts.no_token)
    return await complete_redirect_login(request, partner, token, target, fail)


async def complete_redirect_login(
    request: web.Request, partner: Partner, token: str, target: str, fail: Failure
) -> web.Response:
    """Log in with a token from the URL (the target already passed the allow-list) and send the
    browser to `target` with the custom token in the fragment; any refusal goes to `fail`."""
    rules = partner.redirect_rules
    assert rules is not None
    try:
        result = await log_in(request, partner, PartnerToken(token), with_session=rules.redirect_with_session)
    except Problem as problem:
        return await fail(human_message(problem))
    fragment = {
        "custom_token": result.custom_token,
        "expires_in": str(CUSTOM_TOKEN_LIFETIME_SECONDS),
        "uid": result.user.uid,
    }
    if result.session is not None:
        fragment.update(id_token=result.session.id_token, refresh_token=result.session.refresh_token)
    location = target.split("#", 1)[0] + "#" + urlencode(fragment)
    return web.Response(status=302, headers={"Location": location, **NO_STORE})


def _failure(request: web.Request, partner: Partner | None, message: str) -> web.Response:
    rules = partner.redirect_rules if partner is not None else None
    if rules is not None and rules.error_redirect_url:
        return error_redirect(rules.error_redirect_url, "error", message)
    return failure_page(request, message)


@routes.get(
    "/v1/login/redirect",
    summary="Browser login: verify the partner token, then redirect with the custom token in the fragment",
    query=RedirectQuery,
    responses={302: REDIRECT, 401: "text/html"},
    # No HEAD: a link scanner's HEAD must not run the login (and spend a single-use token).
    allow_head=False,
)
async def redirect_login(request: web.Request) -> web.Response:
    partner = request.app[PARTNERS].get(request.query.get("partner", ""))
    rules = partner.redirect_rules if partner is not None else None
    if partner is None or rules is None:
        return _failure(request, None, "unknown partner")

    async def fail(message: str) -> web.Response:
        return _failure(request, partner, message)

    return await run_redirect_login(request, partner, rules, "token", fail, APP_REFUSALS)
