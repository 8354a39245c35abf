"""A bridge with a partner of every credential kind, served on a real loopback port, and one live
credential of every kind bridge takes (for the log-capture and fuzzing tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys

from partner_server import PartnerServer
from partner_tokens import PartnerKeys, acme_like

PASSWORD = "correct horse battery staple 7f3a9c"
ADMIN_PARTNER = acme_like(issuer="https://staff-sso.test", admin_claims={"role": "admin"})
SINGLE_USE_PARTNER = acme_like(issuer="https://once.test", single_use=True)


def extra_partners(partner_server: PartnerServer) -> dict[str, Any]:
    partner_server.add_rsa_key("k1")
    return {
        "staffsso": ADMIN_PARTNER,
        "once": SINGLE_USE_PARTNER,
        "sso": partner_server.jwks_partner(
            redirect_urls=["https://app.example.com/auth/"],
            default_redirect_url="https://app.example.com/auth/done",
        ),
        "shop": {
            "kind": "password",
            "login_url": f"{partner_server.base_url}/api/auth/local",
            "max_failures_per_user": 1000,
            "max_failures_per_address": 100000,
        },
    }


@dataclass
class Credentials:
    api_key: str  # every scope
    partner_jwt: str  # acme, HS256
    jwks_jwt: str  # sso, RS256 from the partner's JWKS
    single_use_jwt: str
    admin_jwt: str  # staffsso, role=admin
    password: str
    custom_token: str
    id_token: str
    refresh_token: str
    session_cookie: str
    uid: str  # the signed-in user's (not a credential)

    def values(self) -> dict[str, str]:
        """Every credential value, by kind."""
        return {kind: value for kind, value in vars(self).items() if kind != "uid"}


async def serve_bridge(make_settings: Any, partner_server: PartnerServer, **settings: Any) -> TestServer:
    """bridge on a real port (raw sockets and outside tools can reach it); the caller closes it."""
    partners = extra_partners(partner_server)
    app: web.Application = create_app(make_settings(extra_partners=partners, **settings))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def credentials(
    session: Any, base: str, db: Any, keys: PartnerKeys, partner_server: PartnerServer
) -> Credentials:
    """Live credentials of every kind, made through bridge itself (`session`: an aiohttp
    ClientSession; `base`: bridge's URL)."""
    _, api_key = await ApiKeys(db).create(
        "fuzz", {"accounts:write", "tokens:mint", "notifications:send", "admin"}
    )
    subject = f"u-{uuid.uuid4().hex[:8]}"
    partner_server.accounts["ann@shop.test"] = (PASSWORD, {"id": 7, "email": "ann@shop.test"})
    login, cookie = await signed_in(session, base, keys.token(sub=subject, role="editor"))
    return Credentials(
        api_key=api_key,
        partner_jwt=keys.token(sub=f"{subject}-2"),
        jwks_jwt=partner_server.token("k1", sub=f"{subject}-3"),
        single_use_jwt=keys.token(iss="https://once.test", sub=f"{subject}-4", jti=uuid.uuid4().hex),
        admin_jwt=keys.token("staff", iss="https://staff-sso.test", sub="staff-admin", role="admin"),
        password=PASSWORD,
        custom_token=login["custom_token"],
        id_token=login["id_token"],
        refresh_token=login["refresh_token"],
        session_cookie=cookie,
        uid=login["user"]["uid"],
    )


async def signed_in(session: Any, base: str, partner_jwt: str) -> tuple[dict[str, Any], str]:
    """(the login answer with a session, a session cookie) for the user of `partner_jwt` (acme)."""
    async with session.post(
        f"{base}/v1/login", json={"partner": "acme", "token": partner_jwt, "session": True}
    ) as response:
        assert response.status == 200, await response.text()
        login: dict[str, Any] = await response.json()
    async with session.post(
        f"{base}/v1/sessions/cookie", json={"id_token": login["id_token"], "expires_in": 3600}
    ) as response:
        assert response.status == 200, await response.text()
        cookie: str = response.cookies["__session"].value
    return login, cookie
