"""Does a user look the same in MongoDB and in Firebase Auth?"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from firebase_admin import auth

from bridge.infra.json_value import JsonObject, JsonValue
from bridge.store.users import Claims, UserRecord, public_user

PENDING_FIRST_SIGN_IN = "pending first sign-in"


def _time(milliseconds: int | None) -> str | None:
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat() if milliseconds else None


@dataclass(frozen=True, slots=True)
class FirebaseUser:
    """What Firebase Auth knows of a user, as admins see it."""

    uid: str
    email: str | None
    display_name: str | None
    phone_number: str | None
    disabled: bool
    custom_claims: Claims
    created_at: str | None
    last_sign_in_at: str | None
    providers: list[str]
    tenant_id: str | None

    @classmethod
    def from_record(cls, record: auth.UserRecord) -> FirebaseUser:
        return cls(
            uid=record.uid,
            email=record.email,
            display_name=record.display_name,
            phone_number=record.phone_number,
            disabled=record.disabled,
            custom_claims=record.custom_claims or {},
            created_at=_time(record.user_metadata.creation_timestamp),
            last_sign_in_at=_time(record.user_metadata.last_sign_in_timestamp),
            providers=sorted({p.provider_id for p in record.provider_data}) or ["custom"],
            tenant_id=record.tenant_id,
        )

    def as_json(self) -> JsonObject:
        return asdict(self)


def firebase_view(record: auth.UserRecord | None) -> FirebaseUser | None:
    return FirebaseUser.from_record(record) if record is not None else None


def mongodb_view(user: UserRecord | None) -> JsonObject | None:
    """The MongoDB record as admins see it: the public fields and when sessions were revoked."""
    if user is None:
        return None
    view = public_user(user)
    revoked = user.sessions_revoked_at
    view["sessions_revoked_at"] = revoked.isoformat() if revoked is not None else None
    return view


FieldValue = JsonValue


@dataclass(frozen=True, slots=True)
class Difference:
    """One field that differs, or (`presence`) a store that lacks the user."""

    field: str
    mongodb: FieldValue = None
    firebase: FieldValue = None
    detail: str | None = None

    def as_json(self) -> JsonObject:
        if self.detail is not None:
            return {"field": self.field, "detail": self.detail}
        return {"field": self.field, "mongodb": self.mongodb, "firebase": self.firebase}


@dataclass(frozen=True, slots=True)
class Verdict:
    consistent: bool
    differences: list[Difference]
    state: str  # consistent | drift | pending first sign-in

    @property
    def text(self) -> str:
        """One line: the state, or what differs."""
        if self.state == PENDING_FIRST_SIGN_IN:
            return PENDING_FIRST_SIGN_IN
        if self.consistent:
            return "consistent"
        return "; ".join(d.detail or f"{d.field} differs" for d in self.differences)

    def as_json(self) -> JsonObject:
        return {
            "consistent": self.consistent,
            "differences": [d.as_json() for d in self.differences],
            "state": self.state,
        }


def differences(user: UserRecord | None, firebase: FirebaseUser | None) -> list[Difference]:
    """What differs. Email is compared where both stores have one (users who only ever signed in
    with a custom token have none in Firebase). Custom claims (set by accounts and admins) must be
    equal; login claims travel in custom tokens, not on the Firebase user, so they are not compared."""
    if user is None or firebase is None:
        missing = "MongoDB" if user is None else "Firebase"
        return [Difference("presence", detail=f"missing in {missing}")]
    found = []
    if user.email and firebase.email and user.email != firebase.email:
        found.append(Difference("email", user.email, firebase.email))
    if user.disabled != firebase.disabled:
        found.append(Difference("disabled", user.disabled, firebase.disabled))
    custom_claims = user.custom_claims or {}
    if firebase.custom_claims != custom_claims:
        found.append(Difference("custom_claims", custom_claims, firebase.custom_claims))
    return found


def verdict(user: UserRecord | None, firebase: FirebaseUser | None) -> Verdict:
    """A MongoDB record made by a login whose Firebase user appears when the app first signs in
    (firebase_user = "on_sign_in") and is missing in Firebase is in the expected, neutral state
    "pending first sign-in", not drift."""
    if user is not None and user.pending_first_sign_in and firebase is None:
        return Verdict(True, [], PENDING_FIRST_SIGN_IN)
    found = differences(user, firebase)
    return Verdict(not found, found, "drift" if found else "consistent")
