"""The audit log: who did what to which user, when, with before/after, in MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING

from bridge.store.mongo import Document, Store

AUDIT_COLLECTION = "audit"


class AuditLog(Store):
    collection_name = AUDIT_COLLECTION

    async def create_indexes(self) -> None:
        await self.collection.create_index([("at", DESCENDING)], name="at")
        await self.collection.create_index([("target", 1), ("at", DESCENDING)], name="target_at")

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        request_id: str | None,
        outcome: str = "done",
        error: str | None = None,
    ) -> None:
        await self.ensure_indexes()
        await self.collection.insert_one(
            {
                "at": datetime.now(UTC),
                "actor": actor,
                "action": action,
                "target": target,
                "before": before,
                "after": after,
                "request_id": request_id,
                "outcome": outcome,
                "error": error,
            }
        )

    async def search(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Document]:
        query: dict[str, Any] = {}
        for name, value in (("actor", actor), ("action", action), ("target", target)):
            if value is not None:
                query[name] = value
        if since is not None:
            query["at"] = {"$gte": since}
        cursor = self.collection.find(query, {"_id": False}).sort("at", DESCENDING).limit(limit)
        return [entry async for entry in cursor]
