"""Does a user look the same in MongoDB and in Firebase Auth?"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from firebase_admin import auth

from bridge.store.users import public_user


def _time(milliseconds: int | None) -> str | None:
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat() if milliseconds else None


def firebase_view(record: auth.UserRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "uid": record.uid,
        "email": record.email,
        "display_name": record.display_name,
        "phone_number": record.phone_number,
        "disabled": record.disabled,
        "custom_claims": record.custom_claims or {},
        "created_at": _time(record.user_metadata.creation_timestamp),
        "last_sign_in_at": _time(record.user_metadata.last_sign_in_timestamp),
        "providers": sorted({p.provider_id for p in record.provider_data}) or ["custom"],
        "tenant_id": record.tenant_id,
    }


def mongodb_view(user: dict[str, Any] | None) -> dict[str, Any] | None:
    if user is None:
        return None
    view = public_user(user)
    revoked = user.get("sessions_revoked_at")
    view["sessions_revoked_at"] = revoked.isoformat() if isinstance(revoked, datetime) else None
    return view


def differences(mongodb: dict[str, Any] | None, firebase: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What differs. Email is compared where both stores have one (users who only ever signed in
    with a custom token have none in Firebase). Custom claims (set by accounts and admins) must be
    equal; login claims travel in custom tokens, not on the Firebase user, so they are not compared."""
    if mongodb is None or firebase is None:
        missing = "MongoDB" if mongodb is None else "Firebase"
        return [{"field": "presence", "detail": f"missing in {missing}"}]
    found = []
    if mongodb.get("email") and firebase.get("email") and mongodb["email"] != firebase["email"]:
        found.append({"field": "email", "mongodb": mongodb["email"], "firebase": firebase["email"]})
    if bool(mongodb.get("disabled")) != bool(firebase["disabled"]):
        found.append(
            {"field": "disabled", "mongodb": bool(mongodb.get("disabled")), "firebase": firebase["disabled"]}
        )
    custom_claims = mongodb.get("custom_claims") or {}
    if firebase["custom_claims"] != custom_claims:
        found.append(
            {"field": "custom_claims", "mongodb": custom_claims, "firebase": firebase["custom_claims"]}
        )
    return found


def verdict(
    mongodb: dict[str, Any] | None, firebase: dict[str, Any] | None, *, pending: bool = False
) -> dict[str, Any]:
    """`pending`: the MongoDB record was made by a login whose Firebase user appears when the app
    first signs in (firebase_user = "on_sign_in"). Missing in Firebase is then the expected,
    neutral state "pending first sign-in", not drift."""
    if pending and mongodb is not None and firebase is None:
        return {"consistent": True, "differences": [], "state": PENDING_FIRST_SIGN_IN}
    found = differences(mongodb, firebase)
    return {"consistent": not found, "differences": found, "state": "drift" if found else "consistent"}


PENDING_FIRST_SIGN_IN = "pending first sign-in"
