"""GET /healthz (the process answers) and GET /readyz (its dependencies answer)."""

from __future__ import annotations

import logging

from aiohttp import web
from pymongo.errors import PyMongoError

from bridge.web.keys import DELIVERY_WORKER, DRAINING, SETTINGS, USERS
from bridge.web.problems import Problem, dependency_unavailable

log = logging.getLogger("bridge.health")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAINING].is_set():
        raise Problem(
            503, "draining", "Draining", "This process is shutting down.", headers={"Retry-After": "1"}
        )
    try:
        await request.app[USERS].ping()
    except PyMongoError as error:
        log.warning("not ready: mongodb", extra={"error": type(error).__name__})
        raise dependency_unavailable("The user store") from None
    # The push worker's state is shown, but does not fail readiness: logins work without it.
    worker = request.app[DELIVERY_WORKER].status().as_json() if request.app[SETTINGS].push_worker else "off"
    return web.json_response({"status": "ready", "checks": {"mongodb": "ok", "push_worker": worker}})
