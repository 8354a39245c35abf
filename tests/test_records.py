"""Typed records: how they are read from MongoDB documents and what JSON they answer (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.services.verdict import PENDING_FIRST_SIGN_IN, verdict
from bridge.store.mongo import document_of, record_from
from bridge.store.outbox import Delivery
from bridge.store.users import UserRecord, public_user

CREATED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_a_record_takes_renamed_keys_and_defaults_for_absent_fields():
    delivery = record_from(
        Delivery,
        {
            "_id": "ntf_1:000000",
            "notification_id": "ntf_1",
            "uid": "acme:alice",
            "token": "t" * 40,
            "token_hint": "…tttttttt",
            "created_at": CREATED,
            "lease_owner": "worker-1",  # a field the record does not have is left out
        },
        id="_id",
    )
    assert delivery == Delivery(
        id="ntf_1:000000",
        notification_id="ntf_1",
        uid="acme:alice",
        token="t" * 40,
        token_hint="…tttttttt",
        created_at=CREATED,
    )
    assert delivery.state == "pending"
    assert delivery.retries == 0


def test_document_of_is_the_inverse_of_record_from():
    delivery = Delivery("ntf_2:000001", "ntf_2", "acme:bob", "token", "…token", CREATED, "ios", "sent", 2)
    document = document_of(delivery, id="_id")
    assert document["_id"] == "ntf_2:000001"
    assert "id" not in document
    assert record_from(Delivery, document, id="_id") == delivery


def test_public_user_keeps_the_field_order_and_defaults_of_the_api():
    user = UserRecord.from_document(
        {
            "_id": "internal",
            "uid": "acme:carol",
            "partner": "acme",
            "external_id": "carol",
            "created_at": CREATED,
        }
    )
    public = public_user(user)
    assert list(public) == [
        "uid",
        "partner",
        "external_id",
        "email",
        "display_name",
        "phone_number",
        "disabled",
        "claims",
        "custom_claims",
        "created_at",
        "updated_at",
        "last_login_at",
        "login_count",
    ]
    assert public["disabled"] is False
    assert public["custom_claims"] == {}
    assert public["created_at"] == "2026-11-01T12:00:00+00:00"
    assert public["login_count"] is None


def test_a_login_made_user_missing_in_firebase_is_pending_not_drift():
    login_made = UserRecord("acme:dan", "acme", "dan", firebase_user="on_sign_in", login_count=1)
    account = UserRecord("acme:eve", "acme", "eve", custom_claims={}, login_count=0)
    pending, missing = verdict(login_made, None), verdict(account, None)
    assert (pending.state, pending.consistent, pending.text) == (
        PENDING_FIRST_SIGN_IN,
        True,
        PENDING_FIRST_SIGN_IN,
    )
    assert (missing.state, missing.consistent) == ("drift", False)
    assert missing.as_json()["differences"] == [{"field": "presence", "detail": "missing in Firebase"}]
    assert missing.text == "missing in Firebase"
