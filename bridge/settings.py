"""Settings, read once at start-up: `BRIDGE_*` environment variables plus the partners TOML file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.partners.config import Origin, PartnerConfig, load_partners_file


class Settings(BaseSettings):
    """Every field can be set as `BRIDGE_<NAME>` (e.g. `BRIDGE_MONGODB_URI`)."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    partners_file: Path = Path("partners.toml")

    mongodb_uri: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "bridge"
    # How long a request waits for MongoDB before answering 503.
    mongodb_timeout_ms: int = Field(2000, ge=100, le=60000)

    # A Google service-account key file (JSON). GOOGLE_APPLICATION_CREDENTIALS is the fallback.
    service_account_file: Path | None = None
    # Threads that sign custom tokens (`cryptography` releases the GIL while signing). One core is
    # left to the event loop: on 2 cores, 1 thread gave 504 logins/s, 2 gave 471, 4 gave 382.
    signing_threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=1, le=64)

    # Firebase: the Web API key used for the Identity Toolkit REST API (sessions). Not a secret
    # (apps ship it), but sessions are off without it.
    firebase_web_api_key: str | None = None
    # Defaults to the service account's project_id.
    firebase_project_id: str | None = None
    # Base URLs of Google's session APIs; with FIREBASE_AUTH_EMULATOR_HOST set they default to
    # the emulator's.
    identity_toolkit_url: str | None = None
    # Bounds every firebase-admin HTTP call (httpTimeout) and how long a request waits for one.
    firebase_timeout_seconds: float = Field(10.0, gt=0, le=120)
    secure_token_url: str | None = None

    # The session cookie set by POST /v1/sessions/cookie. `__session` is the one cookie name
    # Firebase Hosting forwards to backends.
    session_cookie_name: str = "__session"
    session_cookie_domain: str | None = None
    session_cookie_samesite: Literal["Lax", "Strict", "None"] = "Lax"
    session_cookie_secure: bool = True
    # Browser origins (exact, e.g. "https://app.example") allowed to call the session and /v1/me
    # routes (CORS); partners' login routes use each partner's `allowed_origins`. JSON list.
    cors_allowed_origins: list[Origin] = Field(default_factory=list)

    # Push (FCM HTTP v1). The URLs are for local sinks and tests; production uses Google's.
    fcm_url: str = "https://fcm.googleapis.com"
    # OAuth token endpoint for the FCM access token; the service account's token_uri by default.
    fcm_token_url: str | None = None
    push_worker: bool = True
    push_concurrency: int = Field(50, ge=1, le=1000)
    push_max_attempts: int = Field(5, ge=1, le=20)
    push_backoff_seconds: float = Field(0.5, gt=0, le=60)
    push_poll_seconds: float = Field(1.0, gt=0, le=60)
    # How long a claimed delivery belongs to one worker; renewed while it works. A worker claims
    # only what it can send within one lease and never sends a delivery whose lease it lost.
    push_lease_seconds: float = Field(120.0, ge=2, le=3600)
    # A delivery FCM could not take (unreachable, 5xx, 429 after the retries of one send) goes back
    # to the outbox and is tried again later; after this long it is recorded as failed.
    push_give_up_seconds: float = Field(86400.0, ge=1, le=2419200)
    max_devices_per_user: int = Field(10, ge=1, le=100)

    # Proxies whose X-Forwarded-For is believed (JSON list, e.g. '["10.0.0.5"]'); used for
    # per-address login limits.
    trusted_proxies: frozenset[str] = frozenset()

    # Large enough for a notification to 10,000 user references.
    # Graceful stop: how long /readyz says 503 while still accepting, then how long requests in
    # flight may take to finish.
    drain_seconds: float = Field(0.0, ge=0, le=300)
    shutdown_timeout_seconds: float = Field(15.0, ge=0, le=600)
    # Set by `bridge serve --workers N` for its workers (SO_REUSEPORT).
    reuse_port: bool = False
    # When set, GET /metrics needs `Authorization: Bearer <this>`.
    metrics_token: str | None = None

    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=10 * 1024 * 1024)
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # Loaded from `partners_file` by `load_settings`; never from the environment.
    partners: Mapping[str, PartnerConfig] = Field(default_factory=dict, exclude=True)

    def session_api_urls(self) -> tuple[str, str]:
        """(Identity Toolkit, Secure Token) base URLs."""
        emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
        if emulator:
            itk = f"http://{emulator}/identitytoolkit.googleapis.com"
            sts = f"http://{emulator}/securetoken.googleapis.com"
        else:
            itk, sts = "https://identitytoolkit.googleapis.com", "https://securetoken.googleapis.com"
        return (self.identity_toolkit_url or itk).rstrip("/"), (self.secure_token_url or sts).rstrip("/")

    def service_account_path(self) -> Path | None:
        if self.service_account_file:
            return self.service_account_file
        fallback = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        return Path(fallback) if fallback else None


def load_settings(**overrides: object) -> Settings:
    """Environment + overrides, then the partners file they name. Raises ConfigError when wrong."""
    base = Settings(**overrides)  # type: ignore[arg-type]
    return base.model_copy(update={"partners": load_partners_file(base.partners_file)})
