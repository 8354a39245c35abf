"""OpenID Connect discovery: from an issuer URL to its `jwks_uri`, checking the issuer matches."""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.infra.outbound import Outbound
from bridge.partners.checks import require_https_url

DISCOVERY_PATH = "/.well-known/openid-configuration"
REDISCOVER_AFTER_SECONDS = 86400


class OidcDiscovery:
    def __init__(
        self, issuer: str, outbound: Outbound, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._issuer = issuer
        self._outbound = outbound
        self._timeout = timeout
        self._clock = clock
        self._jwks_uri: str | None = None
        self._discovered_at = 0.0

    @property
    def url(self) -> str:
        return self._issuer.rstrip("/") + DISCOVERY_PATH

    async def jwks_uri(self) -> str:
        """The provider's `jwks_uri`; raises ValueError when the document does not check out."""
        if self._jwks_uri is None or self._clock() - self._discovered_at > REDISCOVER_AFTER_SECONDS:
            document, _ = await self._outbound.get_json(self.url, timeout_seconds=self._timeout)
            if not isinstance(document, dict):
                raise ValueError(f"{self.url} is not a JSON object")
            if document.get("issuer") != self._issuer:
                raise ValueError(
                    f"discovery document issuer {document.get('issuer')!r} is not the configured "
                    f"{self._issuer!r}"
                )
            uri = document.get("jwks_uri")
            if not isinstance(uri, str):
                raise ValueError(f"{self.url} has no jwks_uri")
            self._jwks_uri = require_https_url(uri)
            self._discovered_at = self._clock()
        return self._jwks_uri
