"""MongoDB: the client, and the base every store builds on."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Record = TypeVar("Record")

# Acknowledged only once a majority of the replica set has the write in its journal: it survives a
# SIGKILL of mongod (and, on a replica set, the loss of the primary). On a standalone server the
# majority is the server itself. See docs/operations.md for which writes use it.
DURABLE = WriteConcern(w="majority", j=True)


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


def record_from(record_type: type[Record], document: Mapping[str, Any], **keys: str) -> Record:
    """A record (a dataclass) from a MongoDB document: each field from the key of its name, or the
    key named in `keys` (e.g. id="_id"); fields whose key is absent keep their default."""
    values = {
        name: document[key] for name in _field_names(record_type) if (key := keys.get(name, name)) in document
    }
    return record_type(**values)


# Read once per record type: dataclasses.fields() costs more than the copy it guides.
_FIELD_NAMES: dict[object, tuple[str, ...]] = {}


def _field_names(record_type: object) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(
            field.name
            for field in dataclasses.fields(record_type)  # type: ignore[arg-type]
        )
    return names


def document_of(record: Any, **keys: str) -> Document:
    """The MongoDB document of a record (a dataclass): the inverse of record_from."""
    return {keys.get(name, name): value for name, value in dataclasses.asdict(record).items()}


class Store:
    """One collection and its indexes. Indexes are created once per process: at start-up, or
    before the first write when MongoDB was down at start-up."""

    collection_name: str
    # Writes through `collection` are durable (DURABLE) unless a store says otherwise.
    durable = True

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.database = database
        collection: AsyncCollection[Document] = database[self.collection_name]
        self.collection = collection.with_options(write_concern=DURABLE) if self.durable else collection
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
