"""A stand-in for partners' remote services on loopback: a JWKS endpoint, OIDC discovery and a
Strapi-style login API. It records what it is asked so tests can see what bridge sent."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass
class PartnerServer:
    base_url: str = ""
    keys: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    jwks_status: int = 200
    cache_control: str | None = None
    jwks_requests: int = 0
    discovery_requests: int = 0
    discovery_issuer: str | None = None  # None: the server's own base URL
    # Login API: username -> (password, user object)
    accounts: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    login_status: int | None = None  # force an answer status (e.g. 500)
    login_delay: float = 0.0
    login_requests: list[dict[str, Any]] = field(default_factory=list)

    # --- keys -----------------------------------------------------------------------------
    def add_rsa_key(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def add_ec_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        return key

    def jwks_partner(self, **options: Any) -> dict[str, Any]:
        """A partners-file entry verifying this server's RS256 tokens against its JWKS."""
        return {
            "kind": "jwt",
            "issuer": self.base_url,
            "audience": "bridge",
            "algorithms": ["RS256"],
            "jwks_url": f"{self.base_url}/jwks.json",
            **options,
        }

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid, key in self.keys.items():
            if isinstance(key, rsa.RSAPrivateKey):
                entry = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            else:
                entry = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            entries.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def token(
        self,
        kid: str,
        issuer: str | None = None,
        *,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": issuer or self.base_url,
            "aud": "bridge",
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(
            payload, self.keys[kid], algorithm=algorithm, headers={"kid": kid, **(headers or {})}
        )

    # --- HTTP -----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks.json", self._jwks)
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_post("/api/auth/local", self._login)
        return app

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_requests += 1
        if self.jwks_status != 200:
            return web.Response(status=self.jwks_status, text="unavailable")
        headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
        return web.json_response(self.jwks(), headers=headers)

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_requests += 1
        return web.json_response(
            {
                "issuer": self.discovery_issuer or self.base_url,
                "jwks_uri": f"{self.base_url}/jwks.json",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.login_requests.append(body)
        if self.login_delay:
            await asyncio.sleep(self.login_delay)
        if self.login_status is not None:
            return web.json_response({"error": "boom"}, status=self.login_status)
        account = self.accounts.get(body.get("identifier", body.get("email", "")))
        if account is None or account[0] != body.get("password"):
            return web.json_response(
                {"error": {"status": 400, "message": "Invalid identifier or password"}}, status=400
            )
        return web.json_response({"jwt": "partner-session-token", "user": account[1]})
