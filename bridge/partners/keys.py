"""Key material for partners that sign their tokens themselves: loaded and checked once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from bridge.partners.checks import EC_ALGORITHMS, ConfigError

MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
_EC_CURVE_FOR_ALGORITHM = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}

VerificationKey = bytes | rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class KeySettings(Protocol):
    """Where a partner's own key is configured: exactly one of the sources is set."""

    @property
    def secret_env(self) -> str | None: ...
    @property
    def secret_file(self) -> Path | None: ...
    @property
    def public_key(self) -> str | None: ...
    @property
    def public_key_file(self) -> Path | None: ...
    @property
    def algorithms(self) -> list[str]: ...


class KeyedPartner(Protocol):
    def check_keys(self, partner_id: str) -> None:
        """Load the keys this partner configures itself (ConfigError if one is bad)."""
        ...


def load_verification_key(partner_id: str, config: KeySettings) -> VerificationKey:
    if config.secret_env is not None:
        return _secret_from_env(partner_id, config.secret_env)
    if config.secret_file is not None:
        return _secret_from_file(partner_id, config.secret_file)
    if config.public_key is not None:
        pem, field = config.public_key.encode(), "public_key"
    else:
        assert config.public_key_file is not None
        pem, field = _read(partner_id, "public_key_file", config.public_key_file), "public_key_file"
    return _public_key(partner_id, field, pem, config.algorithms)


def check_partner_keys(configs: Mapping[str, KeyedPartner]) -> None:
    """Load every configured secret and PEM key once, as start-up does (ConfigError if one is bad).
    Keys published at a JWKS URL are fetched on first use, not here."""
    for partner_id, config in configs.items():
        config.check_keys(partner_id)


def _fail(partner_id: str, field: str, message: str) -> ConfigError:
    return ConfigError(f"partner {partner_id!r}, field {field!r}: {message}")


def _checked_secret(partner_id: str, field: str, secret: bytes) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise _fail(partner_id, field, f"the secret must be at least {MIN_SECRET_BYTES} bytes of random data")
    return secret


def _secret_from_env(partner_id: str, variable: str) -> bytes:
    value = os.environ.get(variable)
    if not value:
        raise _fail(partner_id, "secret_env", f"environment variable {variable} is not set")
    return _checked_secret(partner_id, "secret_env", value.encode("utf-8"))


def _secret_from_file(partner_id: str, path: Path) -> bytes:
    secret = _read(partner_id, "secret_file", path).strip()
    return _checked_secret(partner_id, "secret_file", secret)


def _read(partner_id: str, field: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _fail(partner_id, field, f"cannot read {path}: {error.strerror}") from None


def _public_key(partner_id: str, field: str, pem: bytes, algorithms: list[str]) -> VerificationKey:
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise _fail(partner_id, field, "not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        if set(algorithms) & EC_ALGORITHMS:
            raise _fail(partner_id, "algorithms", "an RSA key allows only RS*/PS* algorithms")
        if key.key_size < MIN_RSA_BITS:
            raise _fail(partner_id, field, f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        wrong = [a for a in algorithms if _EC_CURVE_FOR_ALGORITHM.get(a) != key.curve.name]
        if wrong:
            raise _fail(partner_id, "algorithms", f"a {key.curve.name} key cannot verify {', '.join(wrong)}")
        return key
    raise _fail(partner_id, field, "only RSA and EC public keys are supported")
