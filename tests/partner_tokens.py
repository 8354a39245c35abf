"""Partners used by the tests, with the keys to sign their tokens the way a partner backend would."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://login.acme.test"
AUDIENCE = "bridge"


def acme_like(**options: Any) -> dict[str, Any]:
    """A partners-file entry verifying tokens the way acme does (HS256, acme's issuer and secret)."""
    return {
        "kind": "jwt",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["HS256"],
        "secret_file": "acme.secret",
        **options,
    }


def _pem_public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class PartnerKeys:
    hmac_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def write_files(self, directory: Path) -> None:
        (directory / "acme.secret").write_text(self.hmac_secret + "\n")
        (directory / "rsa.pem").write_text(_pem_public(self.rsa_key))

    def partners_document(self) -> dict[str, Any]:
        """The parsed form of a partners TOML file (paths relative to its directory)."""
        return {
            "partners": {
                "acme": acme_like(
                    claims={"role": "role", "tier": "plan.tier"}, static_claims={"via": "acme"}
                ),
                "rsa-co": {
                    "kind": "jwt",
                    "issuer": "https://rsa.test",
                    "audience": ["bridge", "other"],
                    "algorithms": ["RS256"],
                    "public_key_file": "rsa.pem",
                },
                "ec-co": {
                    "kind": "jwt",
                    "issuer": "https://ec.test",
                    "audience": AUDIENCE,
                    "algorithms": ["ES256"],
                    "public_key": _pem_public(self.ec_key),
                    "user_id_claim": "email",
                },
                "staff": {
                    "kind": "jwt",
                    "issuer": "https://staff.test",
                    "audience": AUDIENCE,
                    "algorithms": ["HS256", "HS512"],
                    "secret_file": "acme.secret",
                    "user_id_claim": "employee.number",
                    "name_claim": "full_name",
                },
            }
        }

    def token(
        self,
        partner: str = "acme",
        *,
        algorithm: str | None = None,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """A valid token for `partner`; keyword arguments override or add claims."""
        now = int(time.time())
        defaults = {
            "acme": ("HS256", self.hmac_secret, ISSUER),
            "rsa-co": ("RS256", self.rsa_key, "https://rsa.test"),
            "ec-co": ("ES256", self.ec_key, "https://ec.test"),
            "staff": ("HS256", self.hmac_secret, "https://staff.test"),
        }
        default_algorithm, default_key, issuer = defaults[partner]
        payload: dict[str, Any] = {
            "iss": issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
        }
        payload.update(claims)
        for name in drop:
            payload.pop(name, None)
        return jwt.encode(
            payload,
            key if key is not None else default_key,
            algorithm=algorithm or default_algorithm,
            headers=headers,
        )
