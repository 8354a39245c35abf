"""Single-use tokens: each `(partner, jti)` is accepted once, across every bridge process."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from bridge.store.mongo import Store

USED_TOKENS_COLLECTION = "used_tokens"


class UsedTokens(Store):
    """Remembers used token ids until the token expires (TTL index). Because the TTL sweep runs
    late, an expired record is also ignored by the query itself."""

    collection_name = USED_TOKENS_COLLECTION

    async def create_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")

    async def use(self, partner: str, jti: str, expires_at: datetime, now: datetime | None = None) -> bool:
        """True the first time a token id is used before its expiry, False on every later use.

        One atomic upsert: it matches only an expired record (and renews it); a live record makes
        the insert collide on _id, which means the token was used already."""
        now = now or datetime.now(UTC)
        try:
            await self.collection.update_one(
                {"_id": f"{partner}:{jti}", "expires_at": {"$lte": now}},
                {"$set": {"expires_at": expires_at, "used_at": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def give_back(self, partner: str, jti: str, used_at: datetime) -> None:
        """Forget a use that did not complete (nothing was issued for it), so the token can be
        presented again. Only the record of that use is removed."""
        await self.collection.delete_one({"_id": f"{partner}:{jti}", "used_at": used_at})
