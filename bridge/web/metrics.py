"""GET /metrics: Prometheus exposition (optionally behind BRIDGE_METRICS_TOKEN)."""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bridge.infra.metrics import exposition
from bridge.web.contract import RouteTable
from bridge.web.keys import SETTINGS
from bridge.web.problems import Problem

routes = RouteTable("health")


@routes.get("/metrics", summary="Prometheus metrics", responses={200: "text/plain"}, errors=(401,))
async def metrics_endpoint(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        raise Problem(401, "unauthorized", "Unauthorized", "GET /metrics needs the metrics token.")
    return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
