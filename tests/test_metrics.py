"""GET /metrics: the counters move, labels are route templates and partner ids, never user data."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from scrape import Scrape, scrape

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys


async def test_metrics_count_requests_logins_and_tokens_without_user_data(client, keys, db):
    _, admin = await ApiKeys(db).create("ops", {"admin"})
    before = await scrape(client)

    await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="metric-user")})
    await client.post("/v1/login", json={"partner": "acme", "token": "forged"})
    await client.get("/admin/v1/users/acme:metric-user", headers={"Authorization": f"Bearer {admin}"})

    response = await client.get("/metrics")
    text = await response.text()
    after = Scrape.parse(text)

    def increase(name: str, **labels: str) -> float:
        return after.increase_since(before, name, **labels)

    assert response.status == 200 and response.content_type == "text/plain"
    assert increase("bridge_logins_total", outcome="success", partner="acme") == 1
    assert increase("bridge_logins_total", outcome="invalid-credential", partner="acme") == 1
    requests = "bridge_http_request_duration_seconds_count"
    assert increase(requests, method="POST", route="/v1/login", status="200") == 1
    assert increase(requests, method="POST", route="/v1/login", status="401") == 1
    assert increase(requests, method="GET", route="/admin/v1/users/{ref}", status="200") == 1
    assert increase("bridge_custom_tokens_minted_total") == 1
    assert "metric-user" not in text and "forged" not in text


async def test_the_outbox_depth_gauge_is_what_the_worker_measured_in_this_apps_outbox(client, db):
    """A gauge, process-wide: another app may have left any value in it. This app's worker measures
    its own outbox every poll, so it comes to this test's count: 2 deliveries not finished yet
    (one pending but not due, one leased far into the future), and nothing else."""
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    await db.deliveries.insert_many(
        [
            {"_id": "d-pending", "state": "pending", "not_before": later, "created_at": now},
            {
                "_id": "d-leased",
                "state": "sending",
                "lease_owner": "elsewhere",
                "lease_until": later,
                "created_at": now,
            },
        ]
    )
    deadline = time.monotonic() + 30
    depth = (await scrape(client)).value("bridge_outbox_depth")
    while depth != 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        depth = (await scrape(client)).value("bridge_outbox_depth")
    assert depth == 2


async def test_metrics_token(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(metrics_token="s3cret-metrics-token")))
    assert (await client.get("/metrics")).status == 401
    ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert ok.status == 200
