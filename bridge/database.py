"""MongoDB: the client, and the base every store builds on."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


def open_client(uri: str, timeout_ms: int) -> AsyncMongoClient[Document]:
    """A client that fails fast (timeout_ms) when MongoDB is down, so callers answer 503.
    It connects on first use, not here."""
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        appname="bridge",
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms * 2,
    )


class Store:
    """One collection and its indexes. Indexes are created once per process: at start-up, or
    before the first write when MongoDB was down at start-up."""

    collection_name: str

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        self.collection: AsyncCollection[Document] = database[self.collection_name]
        self._indexes_ready = False
        self._index_lock = asyncio.Lock()

    async def ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        async with self._index_lock:
            if not self._indexes_ready:
                await self.create_indexes()
                self._indexes_ready = True

    async def create_indexes(self) -> None:
        """Create this store's indexes (idempotent)."""
