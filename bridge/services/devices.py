"""Registering a device for a user: a key bound to one partner never takes a device away from
another partner's user, and a device that moves to another user is audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.store.audit import AuditEntry, AuditLog
from bridge.store.devices import DeviceStore, token_hint
from bridge.store.users import UserStore

log = logging.getLogger("bridge.devices")


class DeviceOfAnotherPartner(Exception):
    """The device belongs to a user of another partner than the one the caller is bound to."""

    def __init__(self, bound_to: str) -> None:
        super().__init__(f"This device is registered to a user of another partner than {bound_to!r}.")


@dataclass(frozen=True, slots=True)
class Registration:
    """Who registers which device for whom; `bound_to` is the caller's partner, if it has one."""

    uid: str
    token: str
    platform: str | None
    app_id: str | None
    actor: str
    bound_to: str | None = None
    request_id: str | None = None


class Devices:
    def __init__(self, devices: DeviceStore, users: UserStore, audit: AuditLog) -> None:
        self.devices = devices
        self.users = users
        self.audit = audit

    async def register(self, registration: Registration) -> bool:
        """Register the device; True when it is new to the user."""
        if registration.bound_to is not None:
            await self._check_owner(registration.token, registration.uid, registration.bound_to)
        new, moved_from = await self.devices.register(
            registration.uid, registration.token, registration.platform, registration.app_id
        )
        if moved_from is not None:
            await self._audit_move(registration, moved_from)
        return new

    async def _check_owner(self, token: str, uid: str, bound_to: str) -> None:
        owner = await self.devices.owner_of(token)
        owner_user = await self.users.find_by_uid(owner) if owner not in (None, uid) else None
        if owner_user is not None and owner_user.partner != bound_to:
            raise DeviceOfAnotherPartner(bound_to)

    async def _audit_move(self, registration: Registration, moved_from: str) -> None:
        # The token belonged to another user (an app reinstalled and signed in as someone else):
        # it moves, so pushes follow the person now using the device, and the move is audited.
        uid, hint = registration.uid, token_hint(registration.token)
        log.info("device moved to another user", extra={"from_uid": moved_from, "to_uid": uid, "token": hint})
        await self.audit.record(
            AuditEntry(
                registration.actor,
                "device-moved",
                moved_from,
                {"uid": moved_from, "token": hint},
                {"uid": uid, "token": hint},
                registration.request_id,
            )
        )
