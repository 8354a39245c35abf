"""POST /v1/notifications and GET /v1/notifications/{id}: push by user reference."""

from __future__ import annotations

from aiohttp import web

from bridge.api.access import API_KEY, requires_scope
from bridge.api.bodies import read_body
from bridge.components import NOTIFICATIONS, OUTBOX
from bridge.problems import Problem, bad_request
from bridge.push.messages import NotificationRequest
from bridge.push.notifications import PayloadTooLarge


@requires_scope("notifications:send")
async def send_notification(request: web.Request) -> web.Response:
    body = await read_body(request, NotificationRequest)
    try:
        accepted = await request.app[NOTIFICATIONS].accept(body, sender=request[API_KEY].key_id)
    except PayloadTooLarge as error:
        raise bad_request(str(error)) from None
    return web.json_response(
        accepted, status=202, headers={"Location": f"/v1/notifications/{accepted['id']}"}
    )


@requires_scope("notifications:send")
async def notification_report(request: web.Request) -> web.Response:
    report = await request.app[OUTBOX].report(request.match_info["id"])
    if report is None:
        raise Problem(404, "unknown-notification", "Unknown notification", "No notification has this id.")
    return web.json_response(report)
