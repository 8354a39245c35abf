"""POST /v1/notifications and GET /v1/notifications/{id}: push by user reference."""

from __future__ import annotations

from aiohttp import web

from bridge.push.messages import NotificationRequest
from bridge.web import schemas
from bridge.web.access import API_KEY, key_bound_to_partner, requires_scope
from bridge.web.answers import json_answer
from bridge.web.bodies import read_body
from bridge.web.contract import RouteTable
from bridge.web.keys import NOTIFICATIONS, OUTBOX
from bridge.web.problems import Problem

routes = RouteTable("push")
KEY_ERRORS = (400, 401, 403)


@routes.post(
    "/v1/notifications",
    summary="Send a notification by user reference or audience",
    auth="key:notifications:send",
    body=NotificationRequest,
    responses={202: schemas.NotificationAccepted},
    errors=KEY_ERRORS,
)
@requires_scope("notifications:send")
async def send_notification(request: web.Request) -> web.Response:
    body = await read_body(request, NotificationRequest)
    key = request[API_KEY]
    if body.audience is not None and not key.may_act_for(body.audience.partner or key.partner):
        raise key_bound_to_partner(key)
    accepted = await request.app[NOTIFICATIONS].accept(body, sender=key.key_id, partner=key.partner)
    location = request.app.router["notification"].url_for(id=accepted.id)
    return json_answer(
        schemas.NotificationAccepted.model_validate(accepted.as_json()),
        status=202,
        headers={"Location": str(location)},
    )


@routes.get(
    "/v1/notifications/{id}",
    summary="Delivery report",
    name="notification",
    auth="key:notifications:send",
    responses={200: schemas.NotificationReport},
    errors=(*KEY_ERRORS, 404),
)
@requires_scope("notifications:send", "admin")
async def notification_report(request: web.Request) -> web.Response:
    # A report is read by the key that sent the notification, and by admin keys; to any other key
    # it does not exist.
    key, notification_id = request[API_KEY], request.match_info["id"]
    notification = await request.app[OUTBOX].notification(notification_id)
    own = notification is not None and (notification.sender == key.key_id or "admin" in key.scopes)
    report = await request.app[OUTBOX].report(notification_id) if own else None
    if report is None:
        raise Problem(404, "unknown-notification", "Unknown notification", "No notification has this id.")
    return json_answer(schemas.NotificationReport.model_validate(report.as_json()))
