"""A partner's published key set (JWKS): fetched, cached, refreshed safely.

- Keys are fetched only from the configured URL; `jku`, `x5u` and `jwk` headers are never used.
- The `kid` header only selects among keys already fetched from that URL.
- Cache-Control max-age is honoured within 60 s to 1 day; without it `jwks_cache_seconds` applies.
- An unknown `kid` refetches at most once per `kid_miss_refresh_seconds`; concurrent requests
  share one fetch.
- A failed fetch keeps the last good key set; with none at all, verification is unavailable (503).
- Each key verifies only its own family's algorithms (RSA: RS*/PS*, EC: the ES* of its curve),
  narrowed to its `alg` when the JWK names one; symmetric (`oct`) keys are ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from jwt import PyJWK
from jwt.exceptions import PyJWTError
from pydantic import BaseModel, Field

from bridge.infra.metrics import JWKS_FETCHES
from bridge.infra.outbound import Outbound, UpstreamError
from bridge.partners.base import CredentialRejected, KeysUnavailable, RejectReason
from bridge.partners.checks import RSA_ALGORITHMS
from bridge.partners.keys import VerificationKey

log = logging.getLogger("bridge.jwks")

MAX_JWKS_BYTES = 256 * 1024
MIN_CACHE_SECONDS = 60
MAX_CACHE_SECONDS = 86400
_EC_ALGORITHM_FOR_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


class KeySetRules(BaseModel):
    """How a partner's published key set (JWKS) is fetched and cached."""

    # Used when the JWKS answer has no Cache-Control max-age; max-age is kept within 60 s - 1 day.
    jwks_cache_seconds: int = Field(600, ge=60, le=86400)
    # An unknown `kid` triggers a refetch at most this often (no fetch storm from forged kids).
    kid_miss_refresh_seconds: float = Field(60, ge=0.1, le=3600)
    fetch_timeout_seconds: float = Field(5, gt=0, le=30)


def kid_fingerprint(kid: str) -> str:
    """The first 8 hex of the kid's SHA-256: what a log line may name of a presented kid."""
    return hashlib.sha256(kid.encode("utf-8", "surrogatepass")).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class TrustedKey:
    kid: str | None
    key: VerificationKey
    algorithms: frozenset[str]


def parse_jwks(document: object, allowed: frozenset[str]) -> list[TrustedKey]:
    """The usable signing keys of a JWKS document; unusable entries are skipped, not fatal."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no `keys` list)")
    trusted = []
    for entry in document["keys"]:
        key = _trusted_key(entry, allowed)
        if key is not None:
            trusted.append(key)
    return trusted


def _trusted_key(entry: object, allowed: frozenset[str]) -> TrustedKey | None:
    if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
        return None
    kty = entry.get("kty")
    if kty == "RSA":
        family = RSA_ALGORITHMS
    elif kty == "EC" and entry.get("crv") in _EC_ALGORITHM_FOR_CURVE:
        family = frozenset({_EC_ALGORITHM_FOR_CURVE[entry["crv"]]})
    else:
        return None  # oct (a shared secret has no place in a public key set), OKP, unknown
    algorithms = family & allowed
    if "alg" in entry:
        algorithms &= {entry["alg"]}
    if not algorithms:
        return None
    try:
        key = PyJWK({k: v for k, v in entry.items() if k != "alg"}, next(iter(algorithms))).key
    except (PyJWTError, ValueError, TypeError, KeyError):
        return None
    kid = entry.get("kid")
    return TrustedKey(kid if isinstance(kid, str) else None, key, frozenset(algorithms))


def cache_seconds(headers: Mapping[str, str] | None, default: int) -> float:
    match = _MAX_AGE.search(headers.get("Cache-Control", "") if headers else "")
    seconds = int(match.group(1)) if match else default
    return float(min(max(seconds, MIN_CACHE_SECONDS), MAX_CACHE_SECONDS))


class JwksKeySet:
    """The key set of one partner. `url` may be resolved late (OIDC discovery)."""

    def __init__(
        self,
        partner_id: str,
        url: Callable[[], Awaitable[str]],
        rules: KeySetRules,
        algorithms: list[str],
        outbound: Outbound,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._partner_id = partner_id
        self._url = url
        self._rules = rules
        self._allowed = frozenset(algorithms)
        self._outbound = outbound
        self._clock = clock
        self._keys: list[TrustedKey] | None = None
        self._expires_at = 0.0
        self._last_attempt = float("-inf")
        self._fetching: asyncio.Future[None] | None = None

    async def key_for(self, kid: str | None) -> TrustedKey:
        if self._keys is None or self._clock() >= self._expires_at:
            await self._refresh()
        key = self._lookup(kid)
        if key is None:
            await self._refresh()  # a rotated key set, unless one was fetched moments ago
            key = self._lookup(kid)
        if key is not None:
            return key
        if self._keys is None:
            raise KeysUnavailable(f"partner {self._partner_id!r}: no key set could be fetched yet")
        # The kid is the presenter's text: only a fingerprint of it is logged (sha256, 8 hex).
        raise CredentialRejected(
            f"no trusted key matches kid sha256:{kid_fingerprint(kid)}" if kid else "token has no kid",
            RejectReason.UNKNOWN_KEY,
        )

    def _lookup(self, kid: str | None) -> TrustedKey | None:
        keys = self._keys or []
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((key for key in keys if key.kid == kid), None)

    async def _refresh(self) -> None:
        """Join the fetch in flight, or start one unless the last began under
        `kid_miss_refresh_seconds` ago: forged kids or a partner outage never cause a fetch storm."""
        if self._fetching is None:
            if self._clock() - self._last_attempt < self._rules.kid_miss_refresh_seconds:
                return
            self._last_attempt = self._clock()
            self._fetching = asyncio.ensure_future(self._fetch())
            self._fetching.add_done_callback(self._fetch_done)
        await asyncio.shield(self._fetching)

    def _fetch_done(self, _: asyncio.Future[None]) -> None:
        self._fetching = None

    async def _fetch(self) -> None:
        try:
            url = await self._url()
            document, headers = await self._outbound.get_json(
                url, timeout_seconds=self._rules.fetch_timeout_seconds, max_bytes=MAX_JWKS_BYTES
            )
            keys = parse_jwks(document, self._allowed)
        except (UpstreamError, ValueError) as error:
            JWKS_FETCHES.labels(self._partner_id, "error").inc()
            log.warning(
                "jwks fetch failed; keeping the last good key set",
                extra={"partner": self._partner_id, "error": str(error)},
            )
            return
        self._keys = keys
        JWKS_FETCHES.labels(self._partner_id, "ok").inc()
        self._expires_at = self._clock() + cache_seconds(headers, self._rules.jwks_cache_seconds)
        log.info("jwks fetched", extra={"partner": self._partner_id, "keys": len(keys)})
