"""Devices: signed-in users register their FCM tokens; backends can do it for a user reference."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bridge.services.devices import Devices, Registration
from bridge.services.tokens import user_by_ref
from bridge.store.devices import public_device
from bridge.store.user_refs import parse_user_ref
from bridge.web import schemas
from bridge.web.access import API_KEY, USER, requires_scope, requires_user
from bridge.web.answers import json_answer
from bridge.web.bodies import read_body
from bridge.web.contract import RouteTable
from bridge.web.keys import AUDIT_LOG, DEVICES, USERS
from bridge.web.problems import Problem
from bridge.web.request_log import current_request_id

routes = RouteTable("push")
USER_ERRORS = (401, 503)
KEY_ERRORS = (400, 401, 403)

FcmToken = Annotated[str, Field(min_length=20, max_length=4096, pattern=r"^[A-Za-z0-9_:\-\.]+$")]


class DeviceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: FcmToken
    platform: Literal["android", "ios", "web"] | None = None
    app_id: Annotated[str, Field(max_length=256)] | None = None


class RemoveDeviceBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: FcmToken


async def _register(request: web.Request, uid: str, actor: str, bound_to: str | None = None) -> web.Response:
    body = await read_body(request, DeviceBody)
    devices = Devices(request.app[DEVICES], request.app[USERS], request.app[AUDIT_LOG])
    new = await devices.register(
        Registration(uid, body.token, body.platform, body.app_id, actor, bound_to, current_request_id())
    )
    return json_answer(await _device_list(request, uid), status=201 if new else 200)


async def _device_list(request: web.Request, uid: str) -> schemas.DeviceList:
    devices = await request.app[DEVICES].of_user(uid)
    return schemas.DeviceList.model_validate({"uid": uid, "devices": [public_device(d) for d in devices]})


async def _remove(request: web.Request, uid: str) -> web.Response:
    # The token goes in the body, never the URL: request paths are logged.
    body = await read_body(request, RemoveDeviceBody)
    if not await request.app[DEVICES].remove(uid, body.token):
        raise Problem(404, "unknown-device", "Unknown device", "This user has no such device.")
    return json_answer(schemas.DeviceRemoved(uid=uid, removed=True))


async def _user_named(request: web.Request) -> str:
    ref = parse_user_ref(request.match_info["ref"])
    return (await user_by_ref(request.app[USERS], request[API_KEY], ref)).uid


@routes.get(
    "/v1/me/devices",
    summary="My devices",
    auth="user",
    responses={200: schemas.DeviceList},
    errors=USER_ERRORS,
)
@requires_user
async def list_my_devices(request: web.Request) -> web.Response:
    return json_answer(await _device_list(request, request[USER].uid))


@routes.put(
    "/v1/me/devices",
    summary="Register this device's FCM token",
    auth="user",
    body=DeviceBody,
    responses={200: schemas.DeviceList, 201: schemas.DeviceList},
    errors=(400, *USER_ERRORS),
)
@requires_user
async def register_my_device(request: web.Request) -> web.Response:
    uid = request[USER].uid
    return await _register(request, uid, f"user:{uid}")


@routes.delete(
    "/v1/me/devices",
    summary="Forget a device",
    auth="user",
    body=RemoveDeviceBody,
    responses={200: schemas.DeviceRemoved},
    errors=(400, 404, *USER_ERRORS),
)
@requires_user
async def remove_my_device(request: web.Request) -> web.Response:
    return await _remove(request, request[USER].uid)


@routes.put(
    "/v1/users/{ref:.+}/devices",
    summary="Register a device for a user",
    auth="key:accounts:write",
    body=DeviceBody,
    responses={200: schemas.DeviceList, 201: schemas.DeviceList},
    errors=(*KEY_ERRORS, 404),
)
@requires_scope("accounts:write")
async def register_user_device(request: web.Request) -> web.Response:
    key = request[API_KEY]
    return await _register(request, await _user_named(request), f"api-key:{key.key_id}", key.partner)


@routes.delete(
    "/v1/users/{ref:.+}/devices",
    summary="Forget a user's device",
    auth="key:accounts:write",
    body=RemoveDeviceBody,
    responses={200: schemas.DeviceRemoved},
    errors=(*KEY_ERRORS, 404),
)
@requires_scope("accounts:write")
async def remove_user_device(request: web.Request) -> web.Response:
    return await _remove(request, await _user_named(request))
