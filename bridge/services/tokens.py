"""Custom tokens for existing users, on a backend's behalf: find the user the API key may act for,
refuse a disabled one, mint in the user's partner's tenant."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.firebase.custom_tokens import CustomTokenMinter
from bridge.partners import Partner, tenant_of
from bridge.services.admin import UserNotFound
from bridge.store.api_keys import ApiKey
from bridge.store.user_refs import UserRef, resolve_user_refs
from bridge.store.users import UserDisabled, UserRecord, UserStore

NO_MATCH = "No user matches that reference."


def visible_to(key: ApiKey, user: UserRecord | None, ref: str) -> UserRecord:
    """The user, if the key may act for it; otherwise the same 404 as for no user at all (a key
    bound to one partner does not learn that another partner's user exists)."""
    if user is None or not key.may_act_for(user.partner):
        raise UserNotFound(ref, NO_MATCH)
    return user


async def user_by_ref(users: UserStore, key: ApiKey, ref: UserRef) -> UserRecord:
    found = await resolve_user_refs(users, [ref])
    return visible_to(key, found.get(ref.raw), ref.raw)


async def user_by_external_id(
    users: UserStore, partners: dict[str, Partner], key: ApiKey, partner_id: str, external_id: str
) -> UserRecord:
    partner = partners.get(partner_id)
    stored_id = partner.external_id_of(external_id) if partner else external_id
    return visible_to(key, await users.find_by_external_id(partner_id, stored_id), partner_id)


def enabled(user: UserRecord) -> UserRecord:
    if user.disabled:
        raise UserDisabled(user.uid)
    return user


@dataclass(frozen=True, slots=True)
class Minted:
    custom_token: str
    tenant: str | None  # the tenant a session for this token is signed in to


async def mint_for(minter: CustomTokenMinter, partners: dict[str, Partner], user: UserRecord) -> Minted:
    """A custom token for the user, with its claims, in its partner's tenant."""
    tenant = tenant_of(partners, user.partner)
    return Minted(await minter.mint(user.uid, user.claims or {}, tenant), tenant)
