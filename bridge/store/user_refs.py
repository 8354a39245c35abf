"""User references: how callers name a user, parsed in one place.

Accepted everywhere a user is named:
- the uid, e.g. `acme:alice` (bridge's default uid is `{partner}:{external_id}`),
- `partner:external_id`, for partners whose uid_format differs,
- the path form `users/{uid}` (as FlutterFlow-style apps hold user references).
A reference is first looked up as a uid, then as partner and external id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.store.users import UserRecord, UserStore

MAX_REF_LENGTH = 1200
PATH_PREFIX = "users/"


@dataclass(frozen=True, slots=True)
class UserRef:
    raw: str
    uid: str
    partner: str | None
    external_id: str | None


class BadUserRef(ValueError):
    """Not a user reference at all (empty, too long)."""


def parse_user_ref(raw: str) -> UserRef:
    text = raw.strip()
    if not text or len(text) > MAX_REF_LENGTH:
        raise BadUserRef(f"not a user reference: {raw[:40]!r}")
    uid = text[len(PATH_PREFIX) :] if text.startswith(PATH_PREFIX) else text
    if not uid:
        raise BadUserRef(f"not a user reference: {raw[:40]!r}")
    partner, separator, external_id = uid.partition(":")
    if separator and partner and external_id:
        return UserRef(raw, uid, partner, external_id)
    return UserRef(raw, uid, None, None)


async def resolve_user_refs(users: UserStore, refs: Iterable[UserRef]) -> dict[str, UserRecord]:
    """{raw reference: user record} for every reference that names a user (others are absent).
    One query for any number of references."""
    refs = list(refs)
    if not refs:
        return {}
    pairs = [(r.partner, r.external_id) for r in refs if r.partner and r.external_id]
    records = await users.find_any([r.uid for r in refs], pairs)
    by_uid = {record.uid: record for record in records}
    by_pair = {(record.partner, record.external_id): record for record in records}
    found: dict[str, UserRecord] = {}
    for ref in refs:
        user = by_uid.get(ref.uid)
        if user is None and ref.partner:
            user = by_pair.get((ref.partner, ref.external_id or ""))
        if user is not None:
            found[ref.raw] = user
    return found
