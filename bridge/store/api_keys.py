"""Backend API keys for server-to-server callers: generated once, stored only as hashes.

A key reads `brk_<key id>_<secret>`. The key id is visible (in lists, logs and audit records) so
keys can be rotated one at a time; the secret is 32 random bytes, stored as its SHA-256 and compared
in constant time. (A slow password hash buys nothing for 256-bit random secrets.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.store.mongo import Store, record_from

API_KEYS_COLLECTION = "api_keys"
KEY_PREFIX = "brk"
SCOPES = frozenset({"accounts:write", "tokens:mint", "notifications:send", "admin"})
_KEY_FORMAT = re.compile(rf"{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})")


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    # Bound to one partner: the key acts only on that partner's users (None: every partner).
    partner: str | None = None

    def may_act_for(self, partner: str | None) -> bool:
        return self.partner is None or self.partner == partner


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """A key as `bridge api-keys list` shows it."""

    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    partner: str | None = None
    revoked_at: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class ApiKeys(Store):
    collection_name = API_KEYS_COLLECTION

    async def create(self, name: str, scopes: set[str], partner: str | None = None) -> tuple[ApiKey, str]:
        """A new key; the plaintext is returned once and never stored. With `partner`, the key
        acts only on that partner's users (an admin key cannot be bound: admins see everyone)."""
        unknown = scopes - SCOPES
        if unknown or not scopes:
            raise ValueError(f"scopes must be some of {', '.join(sorted(SCOPES))}")
        if partner is not None and "admin" in scopes:
            raise ValueError("an admin key acts on every partner; it cannot be bound to one")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        await self.collection.insert_one(
            {
                "_id": key_id,
                "name": name,
                "scopes": sorted(scopes),
                "partner": partner,
                "secret_sha256": _digest(secret),
                "created_at": datetime.now(UTC),
                "revoked_at": None,
            }
        )
        return ApiKey(key_id, name, frozenset(scopes), partner), f"{KEY_PREFIX}_{key_id}_{secret}"

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The key's identity when `presented` is a live key, else None."""
        match = _KEY_FORMAT.fullmatch(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        stored = await self.collection.find_one({"_id": key_id, "revoked_at": None})
        if stored is None or not hmac.compare_digest(stored["secret_sha256"], _digest(secret)):
            return None
        return ApiKey(key_id, stored["name"], frozenset(stored["scopes"]), stored.get("partner"))

    async def revoke(self, key_id: str) -> bool:
        result = await self.collection.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": datetime.now(UTC)}}
        )
        return result.modified_count == 1

    async def list(self) -> list[ApiKeyEntry]:
        """Every key, oldest first, without its secret's hash."""
        keys = self.collection.find({}, {"secret_sha256": False}).sort("created_at", 1)
        return [record_from(ApiKeyEntry, doc, key_id="_id") async for doc in keys]
