"""Idempotency keys: a retried request with the same `Idempotency-Key` gets the first answer back.

Records live 24 hours (TTL index). Only the answer's status and user are kept; tokens are minted
afresh on replay, so no credential is ever stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from bridge.store.mongo import Store

IDEMPOTENCY_COLLECTION = "idempotency_keys"
KEEP_FOR = timedelta(hours=24)


class IdempotencyMismatch(Exception):
    """The key was used before with a different request."""


class IdempotencyInProgress(Exception):
    """The first request with this key has not finished yet."""


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    result: dict[str, Any]


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyKeys(Store):
    collection_name = IDEMPOTENCY_COLLECTION

    async def create_indexes(self) -> None:
        await self.collection.create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")

    async def begin(self, caller: str, key: str, request_fingerprint: str) -> Replay | None:
        """None: go ahead (the key is now reserved). A Replay: answer that instead."""
        await self.ensure_indexes()
        now = datetime.now(UTC)
        record_id = f"{caller}:{key}"
        try:
            await self.collection.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": request_fingerprint,
                    "state": "pending",
                    "expires_at": now + KEEP_FOR,
                }
            )
            return None
        except DuplicateKeyError:
            pass
        record = await self.collection.find_one({"_id": record_id})
        if record is None or record["expires_at"] <= now:
            await self.collection.delete_one({"_id": record_id, "expires_at": {"$lte": now}})
            return await self.begin(caller, key, request_fingerprint)
        if record["fingerprint"] != request_fingerprint:
            raise IdempotencyMismatch(key)
        if record["state"] != "done":
            raise IdempotencyInProgress(key)
        return Replay(record["status"], record["result"])

    async def finish(self, caller: str, key: str, status: int, result: dict[str, Any]) -> None:
        await self.collection.update_one(
            {"_id": f"{caller}:{key}"}, {"$set": {"state": "done", "status": status, "result": result}}
        )

    async def abandon(self, caller: str, key: str) -> None:
        """The request failed: free the key so the client can retry with it."""
        await self.collection.delete_one({"_id": f"{caller}:{key}", "state": "pending"})
