"""The one table from exception type to problem (bridge.web.failures): looked up by type, most
specific class first; an unknown error is not a client's fault."""

from __future__ import annotations

from bridge.firebase.sessions import SessionsNotConfigured, SessionsUnavailable
from bridge.partners.base import CredentialExpired, CredentialRejected, CredentialReplayed
from bridge.services.admin import BadCursor
from bridge.web.failures import problem_for
from bridge.web.redirect_login import human_message


def test_the_most_specific_type_wins():
    replayed = problem_for(CredentialReplayed("token was used"), "acme")
    not_configured = problem_for(SessionsNotConfigured("no key"))
    unavailable = problem_for(SessionsUnavailable("down"))
    assert replayed is not None and (replayed.status, replayed.slug) == (401, "token-already-used")
    assert not_configured is not None and not_configured.status == 501
    assert unavailable is not None and unavailable.status == 503


def test_expiry_is_told_by_type_not_by_message():
    expired = CredentialExpired("a reason that names no library error")
    lookalike = CredentialRejected("ExpiredSignatureError: but raised as a plain rejection")
    expired_problem, lookalike_problem = problem_for(expired, "acme"), problem_for(lookalike, "acme")
    assert expired_problem is not None and lookalike_problem is not None
    expired_problem.__cause__, lookalike_problem.__cause__ = expired, lookalike
    assert expired_problem.slug == lookalike_problem.slug == "invalid-credential"
    assert human_message(expired_problem) == "Token expired"
    assert human_message(lookalike_problem) == "Invalid token"


def test_a_bad_cursor_is_the_clients_error_but_any_other_value_error_is_ours():
    cursor = problem_for(BadCursor("not a cursor from this API"))
    assert cursor is not None and (cursor.status, cursor.detail) == (400, "not a cursor from this API")
    assert problem_for(ValueError("a bug somewhere")) is None
