"""The audit log: who did what to which user, when, with before/after, in MongoDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pymongo import DESCENDING

from bridge.infra.json_value import JsonObject
from bridge.store.mongo import Document, Store, document_of, record_from

AUDIT_COLLECTION = "audit"


# What the user looked like before and after (JSON), or None where there was nothing.
Snapshot = JsonObject | list[JsonObject] | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing an admin (or bridge on a caller's behalf) did to a user."""

    actor: str
    action: str
    target: str
    before: Snapshot
    after: Snapshot
    request_id: str | None = None
    outcome: Literal["done", "partial"] = "done"
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> JsonObject:
        """The entry as the admin API shows it: when first, times as ISO 8601."""
        fields = document_of(self)
        del fields["at"]
        return {"at": self.at.isoformat(), **fields}


class AuditLog(Store):
    collection_name = AUDIT_COLLECTION

    async def create_indexes(self) -> None:
        await self.collection.create_index([("at", DESCENDING)], name="at")
        await self.collection.create_index([("target", 1), ("at", DESCENDING)], name="target_at")

    async def record(self, entry: AuditEntry) -> None:
        await self.ensure_indexes()
        await self.collection.insert_one(document_of(entry))

    async def search(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The newest entries first, up to `limit`, matching every condition given."""
        query: Document = {}
        for name, value in (("actor", actor), ("action", action), ("target", target)):
            if value is not None:
                query[name] = value
        if since is not None:
            query["at"] = {"$gte": since}
        cursor = self.collection.find(query, {"_id": False}).sort("at", DESCENDING).limit(limit)
        return [record_from(AuditEntry, entry) async for entry in cursor]
