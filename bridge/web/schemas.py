"""Response shapes: handlers answer with these models (bridge.web.answers), and the OpenAPI document
is built from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: every error bridge answers looks like this."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, str]] | None = None


class User(BaseModel):
    uid: str
    partner: str
    external_id: str
    email: str | None
    display_name: str | None
    phone_number: str | None
    disabled: bool
    claims: dict[str, Any] | None = Field(description="Developer claims of the last login (partner mapping)")
    custom_claims: dict[str, Any] = Field(description="Firebase custom claims set by accounts and admins")
    created_at: str | None
    updated_at: str | None
    last_login_at: str | None
    login_count: int | None


class Session(BaseModel):
    id_token: str
    refresh_token: str
    expires_in: int
    uid: str | None


class LoginAnswer(BaseModel):
    user: User
    token_type: Literal["Bearer"]
    custom_token: str
    jwt_token: str = Field(description="The same custom token, for FlutterFlow-style apps")
    expires_in: int
    session: Session | None = None
    id_token: str | None = None
    refresh_token: str | None = None


class FlutterFlowUser(BaseModel):
    model_config = ConfigDict(extra="allow")  # the partner-mapped claims are fields of `user` too

    id: int | str = Field(description="The partner's user id (a number when the partner's is one)")
    name: str | None
    email: str | None


class FlutterFlowAnswer(BaseModel):
    """FlutterFlow's JWT login contract"""

    user: FlutterFlowUser
    token_type: Literal["Bearer"]
    expires_in: int
    jwt_token: str = Field(description="The Firebase custom token")
    refresh_token: str = Field(description="A Firebase refresh token")
    token: str = Field(description="The same custom token (`$.token`)")


class StrapiUser(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str
    username: str
    email: str | None
    uid: str
    blocked: bool
    createdAt: str  # Strapi spells its fields in camelCase
    updatedAt: str


class StrapiAnswer(BaseModel):
    """Strapi's /api/auth/local contract"""

    jwt: str = Field(description="A Firebase ID token: the Bearer token for /v1/me and your backend")
    user: StrapiUser
    custom_token: str
    refresh_token: str
    expires_in: int


class CustomTokenAnswer(BaseModel):
    user: User
    token_type: Literal["Bearer"]
    custom_token: str
    expires_in: int


class AccountAnswer(CustomTokenAnswer):
    created: bool
    jwt_token: str = Field(description="The same custom token, as login answers it")
    session: Session | None = None
    id_token: str | None = None
    refresh_token: str | None = None


class CookieAnswer(BaseModel):
    cookie: str
    expires_in: int


class FirebaseIdentity(BaseModel):
    uid: str
    sign_in_provider: str | None
    auth_time: int | None


class MeAnswer(BaseModel):
    user: User
    firebase: FirebaseIdentity


class LogoutAnswer(BaseModel):
    uid: str
    sessions_revoked: bool


class Device(BaseModel):
    token: str = Field(description="The last 8 characters of the registration token")
    platform: str | None
    app_id: str | None
    created_at: str
    last_seen_at: str


class DeviceList(BaseModel):
    uid: str
    devices: list[Device]


class DeviceRemoved(BaseModel):
    uid: str
    removed: bool


class NotificationAccepted(BaseModel):
    id: str
    recipients: int
    devices: int
    unknown: list[str]


class DeliveryState(BaseModel):
    token: str
    platform: str | None
    state: Literal["pending", "sending", "sent", "failed", "pruned"]
    error: str | None
    message_id: str | None
    attempts: int


class RecipientReport(BaseModel):
    ref: str
    uid: str | None
    status: Literal["devices", "no_devices", "unknown"]
    devices: list[DeliveryState]


class NotificationReport(BaseModel):
    id: str
    created_at: str
    dry_run: bool
    state: Literal["sending", "done"]
    counts: dict[str, int]
    recipients: list[RecipientReport]


class ApiKeyInfo(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    # Set when the key acts only on one partner's users.
    partner: str | None = None


class Difference(BaseModel):
    """One field that differs (both values), or a store that lacks the user (`detail`)."""

    field: str
    detail: str | None = None
    mongodb: JsonValue = None
    firebase: JsonValue = None


class Verdict(BaseModel):
    consistent: bool
    differences: list[Difference]
    state: Literal["consistent", "pending first sign-in", "drift"] = Field(
        description="pending first sign-in: a login-made user the app has not signed in with yet "
        "(Firebase creates it then); neutral, not drift"
    )


class AdminUserState(BaseModel):
    uid: str
    mongodb: dict[str, JsonValue] | None
    firebase: dict[str, JsonValue] | None
    devices: int
    verdict: Verdict


class Deleted(BaseModel):
    uid: str
    deleted: bool


class AdminUserRow(BaseModel):
    """A listed user with its verdict (`verify=true`)."""

    mongodb: dict[str, JsonValue]
    firebase: dict[str, JsonValue] | None
    verdict: Verdict


class AdminUserPage(BaseModel):
    # Rows with verdicts (`verify=true`), else the MongoDB records as admins see them.
    users: list[AdminUserRow] | list[dict[str, JsonValue]]
    total: int
    next_cursor: str | None


Snapshot = dict[str, JsonValue] | list[dict[str, JsonValue]] | None


class AuditEntry(BaseModel):
    """One thing an admin (or bridge on a caller's behalf) did to a user, with the user's fields
    before and after."""

    at: str
    actor: str
    action: str
    target: str
    before: Snapshot
    after: Snapshot
    request_id: str | None
    outcome: Literal["done", "partial"]
    error: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]


class Drift(BaseModel):
    uid: str
    differences: list[Difference]


class ReconcileAnswer(BaseModel):
    mongodb_users: int
    firebase_users: int
    missing_in_firebase: list[str]
    missing_in_mongodb: list[str]
    differing: list[Drift]
    fixed: list[str]
    not_fixable: list[dict[str, str]]
    pending_first_sign_in: list[str]
    consistent: bool


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    # mongodb: ok. push_worker: ok | starting | stopped | off, or {state: failing, since, reason}
    # (a failing push worker does not fail readiness).
    checks: dict[str, str | dict[str, str]]
