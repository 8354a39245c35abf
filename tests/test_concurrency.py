"""Concurrent first logins must never create duplicate users (unique indexes + upsert)."""

from __future__ import annotations

import asyncio


async def test_200_concurrent_first_logins_of_20_users_leave_20_records(client, keys, db):
    users = [f"racer-{n}" for n in range(20)]
    tokens = [keys.token(sub=user) for user in users for _ in range(10)]

    responses = await asyncio.gather(
        *(client.post("/v1/login", json={"partner": "acme", "token": token}) for token in tokens)
    )

    assert [r.status for r in responses] == [200] * 200
    assert await db.users.count_documents({}) == 20
    async for user in db.users.find({}):
        assert user["login_count"] == 10, user["uid"]
    assert sorted(await db.users.distinct("external_id")) == sorted(users)
