"""Backend account creation: one user, the same uid, in MongoDB and in Firebase Auth."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bridge.firebase.auth_admin import EmailInUse, FirebaseAuth, PhoneInUse
from bridge.partners import Partner
from bridge.store.users import FIREBASE_USER_CREATED, AccountFields, UserRecord, UserStore

log = logging.getLogger("bridge.accounts")


class AccountConflict(Exception):
    """Another Firebase user already has this email or phone number."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already used by another user")
        self.field = field


@dataclass(frozen=True, slots=True)
class NewAccount:
    external_id: str
    email: str | None = None
    display_name: str | None = None
    phone_number: str | None = None
    claims: dict[str, Any] | None = None
    disabled: bool = False


class Accounts:
    def __init__(self, users: UserStore, firebase: FirebaseAuth) -> None:
        self._users = users
        self._firebase = firebase

    async def create(self, partner: Partner, account: NewAccount) -> tuple[UserRecord, bool]:
        """(user record, created). Idempotent per (partner, external_id): an existing account is
        returned as it is, and its Firebase user is created if it is missing.

        MongoDB goes first (its unique index settles concurrent requests); Firebase follows. When
        Firebase refuses the email or phone number, a MongoDB record made by this call is removed
        again, so the two stores never disagree about a new account."""
        uid = partner.uid_for_external(account.external_id)
        record_fields = AccountFields(
            account.email,
            account.display_name,
            account.phone_number,
            dict(account.claims or {}),
            account.disabled,
        )
        user, created = await self._users.create_account(partner.id, account.external_id, uid, record_fields)
        made = await self._create_firebase_user(uid, record_fields, partner, created)
        if user.firebase_user not in (None, FIREBASE_USER_CREATED):
            await self._users.mark_firebase_user_created(uid)  # a login-made record, now in Firebase
        if made and account.claims:
            await self._firebase.set_custom_claims(uid, account.claims, partner.tenant_id)
        if made and not created:
            log.warning("firebase user was missing for an existing account; created it", extra={"uid": uid})
        return user, created

    async def _create_firebase_user(
        self, uid: str, fields: AccountFields, partner: Partner, record_created: bool
    ) -> bool:
        """Whether the Firebase user was made now (False: it existed). On any failure a MongoDB
        record this call created is removed: nothing half-made stays behind."""
        try:
            return await self._firebase.create_user(uid, fields.firebase_fields(), partner.tenant_id)
        except (EmailInUse, PhoneInUse) as error:
            if record_created:
                await self._users.delete(uid)
            raise AccountConflict("email" if isinstance(error, EmailInUse) else "phone_number") from None
        except Exception:
            if record_created:
                await self._users.delete(uid)
            raise
