"""schemathesis hooks for tests/test_fuzz_openapi.py (loaded with SCHEMATHESIS_HOOKS=fuzz_hooks).

A schema cannot state every rule: which partners exist, which credential kind a partner takes,
what an opaque cursor or an FCM data key may be. So the fuzz run lets a schema-valid request be
refused with 400, and this check holds those 400s to the rules the document describes in words:
a 400 for a schema-valid request must be one of these, never a field the body model refuses
(`errors`), a number or JSON rule, or anything else."""

from __future__ import annotations

from typing import Any

import schemathesis

# problem type -> detail prefixes a schema-valid request may get (None: any detail)
RULES_OUTSIDE_THE_SCHEMA: dict[str, tuple[str, ...] | None] = {
    "/problems/unknown-partner": None,
    "/problems/bad-request": (
        "Partner ",  # the partner takes the other credential kind (token vs username/password)
        "Send the token in the body or in the Authorization header, not both.",
        "A token is required",  # jwt partner, no token in body nor header
        "not a cursor from this API",
        "not a user reference",  # a reference of blanks only
        "the message is ",  # over FCM's 4096-byte message limit
        "An object key holds a NUL character.",  # MongoDB cannot store it
        "The body has invalid fields.",  # only with the FCM data-key rule, checked below
    ),
}
DATA_KEY_RULE = "is reserved by FCM"


@schemathesis.check
def schema_valid_requests_are_refused_only_by_documented_rules(ctx: Any, response: Any, case: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    problem = response.json()
    kind, detail = problem.get("type"), problem.get("detail") or ""
    prefixes = RULES_OUTSIDE_THE_SCHEMA.get(kind, ())
    allowed = prefixes is None or any(detail.startswith(prefix) for prefix in prefixes)
    if allowed and detail == "The body has invalid fields.":
        allowed = all(DATA_KEY_RULE in error.get("message", "") for error in problem.get("errors", []))
    if not allowed:
        raise AssertionError(f"A schema-valid request was refused: {problem}")
