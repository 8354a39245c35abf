"""One table from exception type to problem, and the error middleware that answers with it.

Domain errors are raised below the web layer (partners, services, store, firebase) and know
nothing of HTTP; each is answered here, by type. A login's failures are counted and logged by the
login service (bridge.services.logins); the factories here log only what no one below logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WriteConcernError

from bridge.firebase.auth_admin import AuthRefusedInput, AuthUnavailable, IdTokenRejected
from bridge.firebase.sessions import SessionRejected, SessionsNotConfigured, SessionsUnavailable
from bridge.identity import ClaimsTooLarge, InvalidClaims
from bridge.partners.base import (
    CredentialIncomplete,
    CredentialRejected,
    CredentialReplayed,
    KeysUnavailable,
    WrongCredentialKind,
)
from bridge.partners.password import PartnerLoginFailed
from bridge.services.accounts import AccountConflict
from bridge.services.admin import BadCursor, PartlyApplied, UserNotFound
from bridge.services.devices import DeviceOfAnotherPartner
from bridge.services.notifications import PayloadTooLarge
from bridge.store.attempts import LockedOut
from bridge.store.idempotency import IdempotencyInProgress, IdempotencyMismatch
from bridge.store.user_refs import BadUserRef
from bridge.store.users import UidConflict, UserDisabled
from bridge.web.contract import Handler
from bridge.web.problems import (
    Problem,
    bad_request,
    dependency_unavailable,
    invalid_credential,
    problem_response,
)

log = logging.getLogger("bridge.login")
errors_log = logging.getLogger("bridge.errors")

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _credential_replayed(error: CredentialReplayed, partner: str | None) -> Problem:
    return Problem(401, "token-already-used", "Invalid credential", str(error))


def _credential_rejected(error: CredentialRejected, partner: str | None) -> Problem:
    return invalid_credential()


def _wrong_credential_kind(error: WrongCredentialKind, partner: str | None) -> Problem:
    return bad_request(f"Partner {partner!r}: {error}.")


def _user_disabled(error: UserDisabled, partner: str | None) -> Problem:
    return Problem(403, "user-disabled", "Account disabled", "This account is disabled.")


def _uid_conflict(error: UidConflict, partner: str | None) -> Problem:
    return Problem(
        409,
        "uid-conflict",
        "uid conflict",
        "This user's Firebase uid already belongs to another user (of another partner, or another "
        "id): check the partners' uid_format settings.",
    )


def _claims_too_large(error: ClaimsTooLarge, partner: str | None) -> Problem:
    return Problem(422, "claims-too-large", "Claims too large", str(error))


def _locked_out(error: LockedOut, partner: str | None) -> Problem:
    return Problem(
        429,
        "too-many-attempts",
        "Too many failed logins",
        "Too many failed logins; try again later.",
        headers={"Retry-After": str(error.retry_after)},
    )


def _keys_unavailable(error: KeysUnavailable, partner: str | None) -> Problem:
    return Problem(
        503,
        "partner-keys-unavailable",
        "Service unavailable",
        "The partner's signing keys cannot be fetched; try again shortly.",
        headers={"Retry-After": "30"},
    )


def _partner_login_failed(error: PartnerLoginFailed, partner: str | None) -> Problem:
    if error.timed_out:
        return Problem(
            504, "partner-timeout", "Partner timeout", "The partner's login service did not answer in time."
        )
    return Problem(
        502,
        "partner-unavailable",
        "Partner unavailable",
        "The partner's login service is not working; try again later.",
    )


def _session_rejected(error: SessionRejected, partner: str | None) -> Problem:
    log.info("session refused by firebase", extra={"code": error.code})
    return invalid_credential()


def _sessions_not_configured(error: SessionsNotConfigured, partner: str | None) -> Problem:
    return Problem(
        501,
        "sessions-not-configured",
        "Sessions not configured",
        "This bridge has no Firebase Web API key (BRIDGE_FIREBASE_WEB_API_KEY).",
    )


def _firebase_unavailable(error: SessionsUnavailable | AuthUnavailable, partner: str | None) -> Problem:
    log.warning("firebase unavailable", extra={"error": str(error)})
    return Problem(
        503,
        "firebase-unavailable",
        "Service unavailable",
        "Firebase Authentication is not reachable; try again shortly.",
        headers={"Retry-After": "5"},
    )


def log_id_token_rejected(error: IdTokenRejected) -> None:
    # A reason code and the value's fingerprint: never the value (firebase-admin's own error text
    # quotes it, e.g. a whole API key sent as a Bearer ID token).
    log.info("id token rejected", extra={"reason": error.code, "fingerprint": error.fingerprint})


def _id_token_rejected(error: IdTokenRejected, partner: str | None) -> Problem:
    log_id_token_rejected(error)
    return invalid_credential()


def _auth_refused_input(error: AuthRefusedInput, partner: str | None) -> Problem:
    return bad_request(f"Firebase refused the input: {error}")


def _account_conflict(error: AccountConflict, partner: str | None) -> Problem:
    return Problem(
        409, "account-conflict", "Conflict", f"The {error.field} is already used by another Firebase user."
    )


def _idempotency_mismatch(error: IdempotencyMismatch, partner: str | None) -> Problem:
    return Problem(
        422,
        "idempotency-key-reused",
        "Idempotency key reused",
        f"This {IDEMPOTENCY_HEADER} was used with a different request.",
    )


def _idempotency_in_progress(error: IdempotencyInProgress, partner: str | None) -> Problem:
    return Problem(
        409,
        "idempotency-key-in-progress",
        "Request in progress",
        f"A request with this {IDEMPOTENCY_HEADER} is still running; retry shortly.",
        headers={"Retry-After": "1"},
    )


def _user_not_found(error: UserNotFound, partner: str | None) -> Problem:
    return Problem(404, "unknown-user", "Unknown user", error.detail)


def _device_of_another_partner(error: DeviceOfAnotherPartner, partner: str | None) -> Problem:
    return Problem(403, "forbidden", "Forbidden", str(error))


def _refused_input(error: ValueError, partner: str | None) -> Problem:
    """The message names the rule the input breaks (never the value)."""
    return bad_request(str(error))


def _partly_applied(error: PartlyApplied, partner: str | None) -> Problem:
    return Problem(
        502, "partly-applied", "Partly applied", f"{error}. GET the user to see the verdict, then retry."
    )


def _mongodb(error: PyMongoError, partner: str | None) -> Problem | None:
    """MongoDB is down, electing a primary, or did not confirm a write in time: the caller may
    retry (503). Any other MongoDB error is a 500."""
    if not mongodb_unavailable(error):
        return None
    errors_log.warning("mongodb unavailable: %s", type(error).__name__)
    return user_store_unavailable()


def user_store_unavailable() -> Problem:
    return dependency_unavailable("The user store")


def mongodb_unavailable(error: PyMongoError) -> bool:
    """Server selection and network errors, a write concern not satisfied in time (a majority
    unreachable during a failover), and operations past their time limit."""
    return isinstance(error, ConnectionFailure | WriteConcernError | ExecutionTimeout) or error.timeout


# Each factory takes the error (of its key's type) and the login's partner, if any; None means
# "not a known failure": a 500. Looked up along the error's class hierarchy, most specific first.
# The value type says Any because each factory takes its own key's type.
PROBLEMS: dict[type[Exception], Callable[[Any, str | None], Problem | None]] = {
    # logins
    CredentialReplayed: _credential_replayed,
    CredentialRejected: _credential_rejected,
    WrongCredentialKind: _wrong_credential_kind,
    CredentialIncomplete: _refused_input,  # the message says what to send
    UserDisabled: _user_disabled,
    UidConflict: _uid_conflict,
    ClaimsTooLarge: _claims_too_large,
    LockedOut: _locked_out,
    KeysUnavailable: _keys_unavailable,
    PartnerLoginFailed: _partner_login_failed,
    # Firebase sessions and Auth
    SessionRejected: _session_rejected,
    SessionsNotConfigured: _sessions_not_configured,
    SessionsUnavailable: _firebase_unavailable,
    AuthUnavailable: _firebase_unavailable,
    IdTokenRejected: _id_token_rejected,
    AuthRefusedInput: _auth_refused_input,
    # accounts
    AccountConflict: _account_conflict,
    IdempotencyMismatch: _idempotency_mismatch,
    IdempotencyInProgress: _idempotency_in_progress,
    # users by reference, admin, push
    UserNotFound: _user_not_found,
    BadUserRef: _refused_input,
    BadCursor: _refused_input,
    InvalidClaims: _refused_input,
    PartlyApplied: _partly_applied,
    PayloadTooLarge: _refused_input,
    DeviceOfAnotherPartner: _device_of_another_partner,
    # MongoDB
    PyMongoError: _mongodb,
}


def problem_for(error: Exception, partner: str | None = None) -> Problem | None:
    """The problem answering `error` (its reason logged), or None for an unknown failure."""
    if isinstance(error, Problem):
        return error
    for kind in type(error).__mro__:
        factory = PROBLEMS.get(kind)
        if factory is not None:
            return factory(error, partner)
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(_from_http_exception(error), request)
    except Exception as error:
        problem = problem_for(error)
        if problem is None:
            errors_log.exception("unhandled error")
            problem = _internal_error()
        return problem_response(problem, request)


def _from_http_exception(error: web.HTTPException) -> Problem:
    kept = {
        name: value for name, value in error.headers.items() if name in ("Allow", "Retry-After", "Location")
    }
    slug = error.reason.lower().replace(" ", "-")
    return Problem(
        error.status,
        slug,
        error.reason,
        error.text if error.text and not error.text.startswith(f"{error.status}:") else None,
        headers=kept,
    )


def _internal_error() -> Problem:
    return Problem(
        500,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; the request id identifies it in our logs.",
    )
