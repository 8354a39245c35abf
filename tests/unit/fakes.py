"""In-memory stand-ins for bridge's own ports (stores, minter, session API, outgoing HTTP), so the
unit layer runs without mongod or the Firebase emulator. They keep the contract the pipeline relies
on (what is counted, spent, given back), not MongoDB's or Firebase's behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bridge.firebase.sessions import Session
from bridge.identity import ExternalIdentity
from bridge.infra.outbound import Answer, UpstreamError
from bridge.store.attempts import Counter, LockedOut
from bridge.store.users import FIREBASE_USER_CREATED, UidConflict, UserDisabled, UserRecord

RETRY_AFTER = 60


@dataclass
class FakeAttempts:
    """Failures per counter key, without windows: a counter at its limit is locked."""

    failures: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _locked(self, counter: Counter) -> bool:
        return self.failures.get(counter.key, 0) >= counter.limit

    async def refuse_if_known_locked(self, counter: Counter) -> None:
        self.calls.append("refuse_if_known_locked")
        if self._locked(counter):
            raise LockedOut(RETRY_AFTER)

    async def refuse_if_locked(self, counters: list[Counter]) -> None:
        self.calls.append("refuse_if_locked")
        if any(self._locked(counter) for counter in counters):
            raise LockedOut(RETRY_AFTER)

    async def reserve(self, counters: list[Counter]) -> None:
        self.calls.append("reserve")
        if any(self._locked(counter) for counter in counters):
            raise LockedOut(RETRY_AFTER)
        for counter in counters:
            self.failures[counter.key] = self.failures.get(counter.key, 0) + 1

    async def release(self, counters: list[Counter]) -> None:
        self.calls.append("release")
        for counter in counters:
            self.failures[counter.key] = max(0, self.failures.get(counter.key, 0) - 1)

    async def clear(self, counter: Counter) -> None:
        self.calls.append("clear")
        self.failures.pop(counter.key, None)

    async def record_failure(self, counter: Counter) -> int | None:
        self.calls.append("record_failure")
        self.failures[counter.key] = self.failures.get(counter.key, 0) + 1
        return RETRY_AFTER if self.failures[counter.key] > counter.limit else None


@dataclass
class FakeUsers:
    records: dict[str, UserRecord] = field(default_factory=dict)
    fail_writes: Exception | None = None

    async def refuse_conflicts(self, partner: str, external_id: str, uid: str) -> None:
        record = self.records.get(uid)
        if record is None:
            return
        if (record.partner, record.external_id) != (partner, external_id):
            raise UidConflict(uid, record.partner)
        if record.disabled:
            raise UserDisabled()

    async def record_login(
        self,
        identity: ExternalIdentity,
        uid: str,
        claims: Mapping[str, Any],
        now: datetime | None = None,
        *,
        count: bool = True,
        firebase_user: str | None = None,
    ) -> UserRecord:
        if self.fail_writes is not None:
            raise self.fail_writes
        await self.refuse_conflicts(identity.partner, identity.external_id, uid)
        record = self.records.get(uid) or UserRecord(
            uid, identity.partner, identity.external_id, login_count=0, firebase_user=firebase_user
        )
        record = replace(
            record,
            email=identity.email,
            display_name=identity.display_name,
            claims=dict(claims),
            login_count=(record.login_count or 0) + (1 if count else 0),
        )
        self.records[uid] = record
        return record

    async def count_login(self, uid: str, now: datetime | None = None) -> UserRecord | None:
        record = self.records.get(uid)
        if record is None:
            return None
        self.records[uid] = replace(record, login_count=(record.login_count or 0) + 1)
        return self.records[uid]

    async def mark_firebase_user_created(self, uid: str) -> None:
        self.records[uid] = replace(self.records[uid], firebase_user=FIREBASE_USER_CREATED)


@dataclass
class FakeUsedTokens:
    used: dict[tuple[str, str], datetime] = field(default_factory=dict)

    async def use(self, partner: str, jti: str, expires_at: datetime, now: datetime | None = None) -> bool:
        if (partner, jti) in self.used:
            return False
        self.used[(partner, jti)] = now or datetime.now(UTC)
        return True

    async def give_back(self, partner: str, jti: str, used_at: datetime) -> None:
        if self.used.get((partner, jti)) == used_at:
            del self.used[(partner, jti)]


@dataclass
class FakeMinter:
    minted: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    failure: Exception | None = None

    async def mint(
        self, uid: str, claims: Mapping[str, Any] | None = None, tenant_id: str | None = None
    ) -> str:
        if self.failure is not None:
            raise self.failure
        self.minted.append((uid, dict(claims or {}), tenant_id))
        return f"custom-token-for:{uid}"


@dataclass
class FakeSessions:
    signed_in: list[tuple[str, str | None]] = field(default_factory=list)

    async def sign_in(self, custom_token: str, tenant_id: str | None = None) -> Session:
        self.signed_in.append((custom_token, tenant_id))
        return Session("id-token", "refresh-token", 3600, custom_token.removeprefix("custom-token-for:"))


@dataclass
class FakeFirebaseUsers:
    created: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)

    async def create_user(self, uid: str, fields: Mapping[str, Any], tenant_id: str | None = None) -> bool:
        self.created.append((uid, dict(fields), tenant_id))
        return True


@dataclass
class FakeOutbound:
    """Answers by URL: (status, JSON) for POST, (JSON, headers) for GET; records every call."""

    posts: dict[str, tuple[int, Any]] = field(default_factory=dict)
    gets: dict[str, tuple[Any, Mapping[str, str]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    async def get_json(
        self, url: str, *, timeout_seconds: float, max_bytes: int = 0
    ) -> tuple[Any, Mapping[str, str]]:
        self.calls.append(("GET", url))
        if self.down or url not in self.gets:
            raise UpstreamError(f"GET {url} failed")
        return self.gets[url]

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float,
        max_bytes: int = 0,
    ) -> Answer:
        self.calls.append((method, url))
        if self.down:
            raise UpstreamError(f"{method} {url} failed")
        status, document = self.posts[url]
        return Answer(status, document, {})


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
