"""GET /healthz (the process answers) and GET /readyz (its dependencies answer)."""

from __future__ import annotations

import logging

from aiohttp import web
from pymongo.errors import PyMongoError

from bridge.web import schemas
from bridge.web.answers import json_answer
from bridge.web.contract import RouteTable
from bridge.web.failures import user_store_unavailable
from bridge.web.keys import DELIVERY_WORKER, DRAINING, SETTINGS, USERS
from bridge.web.problems import Problem

log = logging.getLogger("bridge.health")
routes = RouteTable("health")


@routes.get("/healthz", summary="Process is alive", responses={200: schemas.Health})
async def healthz(request: web.Request) -> web.Response:
    return json_answer(schemas.Health(status="ok"))


@routes.get(
    "/readyz",
    summary="Ready: MongoDB answers, not draining",
    responses={200: schemas.Ready},
    errors=(503,),
    description="`checks.push_worker` shows the push worker: `ok`, or `{state: failing, since, "
    "reason}`; a failing push worker does not fail readiness (logins work without it).",
)
async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAINING].is_set():
        raise Problem(
            503, "draining", "Draining", "This process is shutting down.", headers={"Retry-After": "1"}
        )
    try:
        await request.app[USERS].ping()
    except PyMongoError as error:
        log.warning("not ready: mongodb", extra={"error": type(error).__name__})
        raise user_store_unavailable() from None
    # The push worker's state is shown, but does not fail readiness: logins work without it.
    worker = request.app[DELIVERY_WORKER].status().as_json() if request.app[SETTINGS].push_worker else "off"
    return json_answer(schemas.Ready(status="ready", checks={"mongodb": "ok", "push_worker": worker}))
