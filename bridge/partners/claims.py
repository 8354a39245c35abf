"""From a verified credential's claims (a JWT's payload, a login API's answer) to an
ExternalIdentity: where the user id, email and name are, and how emails are normalised."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.identity import Claims, ExternalIdentity, claim_value, normalised_email
from bridge.partners.base import CredentialRejected, RejectReason

MAX_EXTERNAL_ID_LENGTH = 1024
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 256


@dataclass(frozen=True, slots=True)
class IdentityPaths:
    """Where a partner's credential names its user (dotted paths reach nested objects)."""

    user_id: str
    email: str | None
    name: str | None
    # The user id is an email address: normalised like one (see identity.normalised_email).
    id_is_email: bool
    casefold_email_local_part: bool


def external_id(claims: Claims, name: str) -> str:
    value = claim_value(claims, name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise CredentialRejected(f"user-id claim {name!r} is missing or not a string", RejectReason.IDENTITY)
    if len(value) > MAX_EXTERNAL_ID_LENGTH:
        raise CredentialRejected(
            f"user-id claim {name!r} is over {MAX_EXTERNAL_ID_LENGTH} chars", RejectReason.IDENTITY
        )
    return value


def optional_text(claims: Claims, name: str | None, limit: int) -> str | None:
    value = claim_value(claims, name) if name else None
    if isinstance(value, str) and 0 < len(value) <= limit:
        return value
    return None


def identity_from(
    partner_id: str, paths: IdentityPaths, found_in: Claims, claims: Claims
) -> ExternalIdentity:
    """The identity `found_in` names at `paths`; `claims` is what developer-claim mappings read.
    Raises CredentialRejected when there is no usable user id."""
    user_id = external_id(found_in, paths.user_id)
    email = optional_text(found_in, paths.email, MAX_EMAIL_LENGTH)
    fold = paths.casefold_email_local_part
    return ExternalIdentity(
        partner=partner_id,
        external_id=normalised_email(user_id, fold) if paths.id_is_email else user_id,
        email=normalised_email(email, fold) if email is not None else None,
        display_name=optional_text(found_in, paths.name, MAX_NAME_LENGTH),
        claims=claims,
    )
