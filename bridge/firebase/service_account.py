"""Service-account keys: loading the configured one, generating a local one for development."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import credentials

from bridge.partners.config import ConfigError


def load_service_account(path: Path | None) -> credentials.Certificate:
    """The service account that signs custom tokens. Errors never quote the key."""
    if path is None:
        raise ConfigError(
            "no service account configured: set BRIDGE_SERVICE_ACCOUNT_FILE (or "
            "GOOGLE_APPLICATION_CREDENTIALS) to a service-account key file; "
            "`bridge keys service-account` makes a local one for development"
        )
    try:
        return credentials.Certificate(str(path))
    except OSError as error:
        raise ConfigError(f"service account {path}: cannot read ({error.strerror})") from None
    except (ValueError, KeyError) as error:
        reason = (
            "not valid JSON"
            if isinstance(error, json.JSONDecodeError)
            else (
                "not a service-account key file (needs type, project_id, private_key_id, "
                "private_key and client_email)"
            )
        )
        raise ConfigError(f"service account {path}: {reason}") from None


def generate_service_account(project_id: str, account: str = "bridge-local") -> dict[str, str]:
    """A key file in Google's format with a fresh RSA-2048 key, for local use and tests only:
    tokens it signs are accepted by the Auth emulator, never by Google."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = f"{account}@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }


def write_service_account(path: Path, project_id: str) -> None:
    """Write a generated key file readable by the owner only; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = json.dumps(generate_service_account(project_id), indent=2) + "\n"
    with open(path, "x", encoding="utf-8", opener=_owner_only) as out:
        out.write(content)


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
