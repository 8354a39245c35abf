"""What a notification request may say, and the FCM v1 message it becomes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridge.infra.json_value import JsonObject

MAX_PAYLOAD_BYTES = 4096  # FCM's limit for a message's payload
MAX_TTL_SECONDS = 2_419_200  # 28 days
MAX_RECIPIENTS = 10_000
_RESERVED_DATA_KEYS = {"from", "notification", "message_type"}

ClaimScalar = str | int | bool


class Content(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    title: Annotated[str, Field(max_length=1024)] | None = None
    body: Annotated[str, Field(max_length=4096)] | None = None
    image: Annotated[str, Field(pattern=r"^https://", max_length=2048)] | None = None


class Audience(BaseModel):
    """Users chosen by what bridge knows of them (all conditions must hold)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    partner: str | None = None
    claims: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], ClaimScalar] = Field(
        default_factory=dict
    )
    registered_since: datetime | None = None

    @field_validator("registered_since", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        return datetime.fromisoformat(value) if isinstance(value, str) else value


class NotificationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # The rules of `_recipients_and_content`, stated in the contract.
        json_schema_extra={
            "allOf": [
                {
                    "oneOf": [
                        {
                            "required": ["recipients"],
                            "properties": {"recipients": {"type": "array"}, "audience": {"type": "null"}},
                        },
                        {
                            "required": ["audience"],
                            "properties": {"audience": {"type": "object"}, "recipients": {"type": "null"}},
                        },
                    ]
                },
                {
                    "anyOf": [
                        {"required": ["notification"], "properties": {"notification": {"type": "object"}}},
                        {
                            "required": ["data"],
                            "properties": {"data": {"type": "object", "minProperties": 1}},
                        },
                    ]
                },
            ]
        },
    )

    recipients: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=1200)]],
            Field(min_length=1, max_length=MAX_RECIPIENTS),
        ]
        | None
    ) = None
    audience: Audience | None = None
    notification: Content | None = None
    data: dict[Annotated[str, Field(min_length=1, max_length=256)], str] | None = None
    android: dict[str, Any] | None = None
    apns: dict[str, Any] | None = None
    webpush: dict[str, Any] | None = None
    ttl: Annotated[int, Field(ge=0, le=MAX_TTL_SECONDS)] | None = None
    priority: Literal["high", "normal"] | None = None
    dry_run: bool = False

    @field_validator("data")
    @classmethod
    def _no_reserved_keys(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            if key in _RESERVED_DATA_KEYS or key.startswith(("google", "gcm")):
                raise ValueError(f"data key {key!r} is reserved by FCM")
        return value

    @field_validator("apns", "webpush")
    @classmethod
    def _headers_are_an_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """FCM's `headers` is a map: bridge adds TTL and priority headers to it."""
        if value is not None and not isinstance(value.get("headers", {}), dict):
            raise ValueError("`headers` must be an object")
        return value

    @model_validator(mode="after")
    def _recipients_and_content(self) -> NotificationRequest:
        if (self.recipients is None) == (self.audience is None):
            raise ValueError("give either `recipients` (user references) or `audience`")
        if self.notification is None and not self.data:
            raise ValueError("give a `notification`, `data`, or both")
        return self


def fcm_message(request: NotificationRequest) -> JsonObject:
    """The FCM v1 `message`, without its `token`: ttl and priority spread over each platform."""
    message: JsonObject = {}
    if request.notification is not None:
        message["notification"] = request.notification.model_dump(exclude_none=True)
    if request.data:
        message["data"] = dict(request.data)
    android = dict(request.android or {})
    apns = dict(request.apns or {})
    webpush = dict(request.webpush or {})
    if request.ttl is not None:
        android.setdefault("ttl", f"{request.ttl}s")
        webpush.setdefault("headers", {}).setdefault("TTL", str(request.ttl))
    if request.priority is not None:
        android.setdefault("priority", request.priority.upper())
        apns.setdefault("headers", {}).setdefault(
            "apns-priority", "10" if request.priority == "high" else "5"
        )
        webpush.setdefault("headers", {}).setdefault(
            "Urgency", "high" if request.priority == "high" else "normal"
        )
    for name, override in (("android", android), ("apns", apns), ("webpush", webpush)):
        if override:
            message[name] = override
    return message


def payload_bytes(message: JsonObject) -> int:
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
