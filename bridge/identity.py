"""From an external identity to a Firebase identity: uid derivation and developer claims.

Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt

# A JSON object's members as a partner's credential, a login API or an admin gave them.
Claims = Mapping[str, Any]

MAX_UID_LENGTH = 128
MAX_DEVELOPER_CLAIMS_BYTES = 1000

# Claim names Firebase reserves; a custom token carrying one of them is refused by Firebase.
RESERVED_CLAIMS = frozenset(
    {
        "acr",
        "amr",
        "at_hash",
        "aud",
        "auth_time",
        "azp",
        "cnf",
        "c_hash",
        "exp",
        "firebase",
        "iat",
        "iss",
        "jti",
        "nbf",
        "nonce",
        "sub",
    }
)


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """Who a partner says the user is, after the partner's credential has been verified."""

    partner: str
    external_id: str
    email: str | None = None
    display_name: str | None = None
    claims: Claims = field(default_factory=dict)


class ClaimsTooLarge(ValueError):
    """The developer claims would exceed Firebase's 1000-byte limit."""


_MISSING = object()


def claim_value(claims: Claims, name: str) -> Any:
    """The claim `name`, or None. An exact key wins; otherwise dots walk into nested objects,
    so both `https://example.com/roles` and `address.country` work."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


# The fallback namespace: `{partner}:sha256:{64 hex}`. Only hashing may produce a uid of this
# shape; a formatted uid that happens to look like one (an external id of `sha256:<hex>`, or any
# uid_format) is hashed as well, so no external id can reach another user's fallback uid.
FALLBACK_UID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}:sha256:[0-9a-f]{64}")


def federated_uid(partner: str, external_id: str, uid_format: str = "{partner}:{external_id}") -> str:
    """The Firebase uid for a partner's user: `uid_format` filled in, or, when that is longer than
    Firebase's 128 characters or has the shape of a fallback uid,
    `{partner}:sha256:{hex sha-256 of external_id}` (deterministic)."""
    uid = uid_format.format(partner=partner, external_id=external_id)
    if len(uid) <= MAX_UID_LENGTH and not FALLBACK_UID.fullmatch(uid):
        return uid
    digest = hashlib.sha256(external_id.encode("utf-8")).hexdigest()
    return f"{partner}:sha256:{digest}"


def normalised_email(address: str, casefold_local_part: bool = True) -> str:
    """An email address as an identifier: the domain always case-folded (DNS names are
    case-insensitive), the local part too unless a partner's mailboxes are case-sensitive.
    A value without `@` is returned unchanged."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return address
    return f"{local.casefold() if casefold_local_part else local}@{domain.casefold()}"


class InvalidClaims(ValueError):
    """Claims Firebase would refuse: a reserved name, or too large."""


def reserved_claim_names(names: Iterable[str]) -> list[str]:
    """The names among `names` that Firebase reserves, sorted."""
    return sorted(set(names) & RESERVED_CLAIMS)


def claims_size(claims: Claims) -> int:
    """The bytes of compact JSON Firebase counts against its 1000-byte developer-claims limit."""
    return len(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_claims(claims: Claims) -> None:
    """Raise InvalidClaims when claims use a reserved name or exceed 1000 bytes of JSON."""
    reserved = reserved_claim_names(claims)
    if reserved:
        raise InvalidClaims(f"reserved claim names: {', '.join(reserved)}")
    size = claims_size(claims)
    if size > MAX_DEVELOPER_CLAIMS_BYTES:
        raise InvalidClaims(
            f"claims are {size} bytes of JSON; at most {MAX_DEVELOPER_CLAIMS_BYTES} are allowed"
        )


def developer_claims(
    identity: ExternalIdentity,
    mapping: Mapping[str, str],
    static: Claims,
) -> dict[str, Any]:
    """The custom token's developer claims: static values, then mapped claims that are present."""
    claims = dict(static)
    for firebase_name, source_name in mapping.items():
        value = claim_value(identity.claims, source_name)
        if value is not None:
            claims[firebase_name] = value
    size = claims_size(claims)
    if size > MAX_DEVELOPER_CLAIMS_BYTES:
        raise ClaimsTooLarge(
            f"developer claims are {size} bytes; Firebase allows {MAX_DEVELOPER_CLAIMS_BYTES}"
        )
    return claims


ScalarClaim = str | int | bool
ClaimRule = ScalarClaim | list[ScalarClaim]


def is_one_of(value: object, options: Sequence[ScalarClaim]) -> bool:
    """Strict equality with one option: the type must match too, so `true` never matches `1` (a bool
    is an int in Python) and an object or list never matches a scalar."""
    return any(type(value) is type(option) and value == option for option in options)


def unmatched_claim(claims: Claims, rules: Mapping[str, ClaimRule]) -> str | None:
    """The first rule's claim name whose value is neither the rule's value nor one of its list, or
    None when every rule matches (required claims, admin claims)."""
    for name, expected in rules.items():
        if not is_one_of(claim_value(claims, name), expected if isinstance(expected, list) else [expected]):
            return name
    return None


def unverified_text_claim(token: str, name: str) -> str | None:
    """A string claim of a token bridge made or Firebase issued, read WITHOUT checking its
    signature: only to route a token whoever uses it verifies (its tenant, its subject), never to
    accept one. None when the token is not a JWT or the claim is not a string."""
    try:
        value = jwt.decode(token, options={"verify_signature": False}).get(name)
    except (jwt.PyJWTError, RecursionError):
        return None
    return value if isinstance(value, str) else None
