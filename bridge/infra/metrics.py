"""Prometheus metrics. Labels are bounded and never hold a user id, email or token: routes are the
route templates (`/admin/v1/users/{ref}`), partners are configured ids.

With several worker processes (`bridge serve --workers N`), PROMETHEUS_MULTIPROC_DIR is set and
/metrics aggregates every worker's values.
"""

from __future__ import annotations

import os

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Histogram(
    "bridge_http_request_duration_seconds",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOGIN_OUTCOMES = Counter(
    "bridge_logins_total",
    "Logins by partner and outcome (success or the problem type)",
    ["partner", "outcome"],
)
JWKS_FETCHES = Counter("bridge_jwks_fetches_total", "Partner key set fetches", ["partner", "outcome"])
CUSTOM_TOKENS = Counter("bridge_custom_tokens_minted_total", "Firebase custom tokens minted")
SESSIONS = Counter("bridge_sessions_total", "Session API calls", ["operation", "outcome"])
FCM_SENDS = Counter(
    "bridge_fcm_sends_total",
    "FCM sends by outcome (sent, failed, pruned, retry: back to the outbox)",
    ["outcome"],
)
OUTBOX_DEPTH = Gauge(
    "bridge_outbox_depth", "Deliveries not finished yet (pending + leased)", multiprocess_mode="max"
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "bridge_outbox_oldest_pending_seconds",
    "Age of the oldest delivery not finished yet (0 when the outbox is empty)",
    multiprocess_mode="max",
)
FCM_OAUTH_FAILURES = Counter("bridge_fcm_oauth_failures_total", "Failed FCM OAuth access-token fetches")
PUSH_WORKER_RESTARTS = Counter(
    "bridge_push_worker_restarts_total", "Times the supervisor restarted a push worker that exited"
)
PUSH_LEASE_LOST = Counter(
    "bridge_push_lease_lost_total",
    "Deliveries a worker lost the lease of (not sent, or its result not written: another worker has it)",
)
PUSH_WORKER_FAILING = Gauge(
    "bridge_push_worker_failing",
    "1 while this process's push worker fails its turns (see /readyz checks.push_worker)",
    multiprocess_mode="max",
)


def route_of(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    return info.route.resource.canonical


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
