"""GET /metrics: the counters move, labels are route templates and partner ids, never user data."""

from __future__ import annotations

from bridge.app import create_app
from bridge.store.api_keys import ApiKeys


async def test_metrics_count_requests_logins_and_tokens_without_user_data(client, keys, db):
    _, admin = await ApiKeys(db).create("ops", {"admin"})
    await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="metric-user")})
    await client.post("/v1/login", json={"partner": "acme", "token": "forged"})
    await client.get("/admin/v1/users/acme:metric-user", headers={"Authorization": f"Bearer {admin}"})

    response = await client.get("/metrics")
    text = await response.text()

    assert response.status == 200 and response.content_type == "text/plain"
    assert 'bridge_logins_total{outcome="success",partner="acme"}' in text
    assert 'bridge_logins_total{outcome="invalid-credential",partner="acme"}' in text
    assert 'route="/admin/v1/users/{ref}"' in text and 'route="/v1/login"' in text
    assert "bridge_custom_tokens_minted_total" in text
    assert "bridge_outbox_depth" in text
    assert "metric-user" not in text and "forged" not in text


async def test_metrics_token(aiohttp_client, make_settings):
    client = await aiohttp_client(create_app(make_settings(metrics_token="s3cret-metrics-token")))
    assert (await client.get("/metrics")).status == 401
    ok = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert ok.status == 200
