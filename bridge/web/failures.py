"""How each way a login or session can fail is answered: the problem for JSON routes, and a short
human message for the browser redirect flow. The log always gets the precise reason."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from bridge.firebase.auth_admin import AuthUnavailable, IdTokenRejected
from bridge.firebase.sessions import SessionRejected, SessionsNotConfigured, SessionsUnavailable
from bridge.identity import ClaimsTooLarge
from bridge.partners.base import (
    CredentialRejected,
    CredentialReplayed,
    KeysUnavailable,
    RejectReason,
    WrongCredentialKind,
)
from bridge.partners.password import PartnerLoginFailed
from bridge.store.attempts import LockedOut
from bridge.store.users import UidConflict, UserDisabled
from bridge.web.problems import Problem, bad_request, invalid_credential

log = logging.getLogger("bridge.login")
T = TypeVar("T")


def session_problem(error: Exception) -> Problem | None:
    if isinstance(error, SessionRejected):
        log.info("session refused by firebase", extra={"code": error.code})
        return invalid_credential()
    if isinstance(error, SessionsNotConfigured):
        return Problem(
            501,
            "sessions-not-configured",
            "Sessions not configured",
            "This bridge has no Firebase Web API key (BRIDGE_FIREBASE_WEB_API_KEY).",
        )
    if isinstance(error, SessionsUnavailable | AuthUnavailable):
        log.warning("firebase unavailable", extra={"error": str(error)})
        return Problem(
            503,
            "firebase-unavailable",
            "Service unavailable",
            "Firebase Authentication is not reachable; try again shortly.",
            headers={"Retry-After": "5"},
        )
    if isinstance(error, IdTokenRejected):
        # A reason code and the value's fingerprint: never the value (firebase-admin's own error
        # text quotes it, e.g. a whole API key sent as a Bearer ID token).
        log.info("id token rejected", extra={"reason": error.code, "fingerprint": error.fingerprint})
        return invalid_credential()
    return None


async def answered(call: Awaitable[T]) -> T:
    """Await a session or Firebase Auth call, answering its known failures as problems."""
    try:
        return await call
    except Exception as error:
        problem = session_problem(error)
        if problem is None:
            raise
        raise problem from None


def uid_conflict(error: UidConflict) -> Problem:
    return Problem(
        409,
        "uid-conflict",
        "uid conflict",
        "This user's Firebase uid already belongs to another user (of another partner, or another "
        "id): check the partners' uid_format settings.",
    )


def login_problem(error: Exception, partner_id: str) -> Problem | None:
    """The problem for a failed login, or None for an unknown failure. The login service has
    already counted and logged it."""
    if isinstance(error, CredentialReplayed):
        return Problem(401, "token-already-used", "Invalid credential", str(error))
    if isinstance(error, CredentialRejected):
        return invalid_credential()
    if isinstance(error, WrongCredentialKind):
        return bad_request(f"Partner {partner_id!r}: {error}.")
    if isinstance(error, UserDisabled):
        return Problem(403, "user-disabled", "Account disabled", "This account is disabled.")
    if isinstance(error, UidConflict):
        return uid_conflict(error)
    if isinstance(error, ClaimsTooLarge):
        return Problem(422, "claims-too-large", "Claims too large", str(error))
    if isinstance(error, LockedOut):
        return Problem(
            429,
            "too-many-attempts",
            "Too many failed logins",
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(error.retry_after)},
        )
    if isinstance(error, KeysUnavailable):
        return Problem(
            503,
            "partner-keys-unavailable",
            "Service unavailable",
            "The partner's signing keys cannot be fetched; try again shortly.",
            headers={"Retry-After": "30"},
        )
    if isinstance(error, PartnerLoginFailed):
        if error.timed_out:
            return Problem(
                504,
                "partner-timeout",
                "Partner timeout",
                "The partner's login service did not answer in time.",
            )
        return Problem(
            502,
            "partner-unavailable",
            "Partner unavailable",
            "The partner's login service is not working; try again later.",
        )
    return session_problem(error)


# Short messages a person may see on the partner's error page after a redirect login (the words
# DeveloperHub-style docs portals show: "Token has already been used", "Token expired", ...).
def human_message(problem: Problem, error: Exception) -> str:
    if isinstance(error, CredentialRejected) and error.code is RejectReason.EXPIRED:
        return "Token expired"
    return {
        "token-already-used": "Token has already been used",
        "invalid-credential": "Invalid token",
        "user-disabled": "Account disabled",
        "uid-conflict": "Account conflict",
        "too-many-attempts": "Too many attempts; try again later",
        "unknown-partner": "Unknown partner",
        "bad-request": "Invalid request",
    }.get(problem.slug, "Sign-in is unavailable right now")
