"""What every partner setting is checked against: algorithm families, URL schemes, and the error
that names a wrong setting. Imported by the partners file and by the verifiers alike."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | RSA_ALGORITHMS | EC_ALGORITHMS


class ConfigError(Exception):
    """The configuration is wrong; the message says where and why."""


def is_loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def require_https_url(value: str) -> str:
    """https everywhere; plain http only to this machine (local stand-ins and tests)."""
    url = urlsplit(value)
    if not url.netloc or url.scheme not in ("https", "http"):
        raise ValueError("must be an absolute http(s) URL")
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise ValueError("must use https (http is allowed only for loopback addresses)")
    return value


HttpsUrl = Annotated[str, AfterValidator(require_https_url)]
