"""The login pipeline (services.logins) with in-memory fakes of bridge's own ports: what a login
writes, spends, counts and logs, for token and password partners. No mongod, no emulator."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from prometheus_client import REGISTRY

from bridge.partners import Partner
from bridge.partners.base import (
    CredentialRejected,
    CredentialReplayed,
    PartnerToken,
    PasswordLogin,
    RejectReason,
    WrongCredentialKind,
)
from bridge.partners.config import JwtPartnerConfig, PasswordPartnerConfig
from bridge.partners.jwks import TrustedKey
from bridge.partners.jwt_token import JwtVerifier, SingleKey
from bridge.partners.password import PartnerLoginFailed
from bridge.services.logins import Logins
from bridge.store.attempts import LockedOut
from bridge.store.users import UserDisabled

from .fakes import (
    FakeAttempts,
    FakeFirebaseUsers,
    FakeMinter,
    FakeOutbound,
    FakeSessions,
    FakeUsedTokens,
    FakeUsers,
)

SECRET = b"k" * 64
LOGIN_URL = "https://login.test/auth"
ADDRESS = "203.0.113.9"


def token_partner(partner_id: str = "tok", **settings: Any) -> Partner:
    config = JwtPartnerConfig.model_validate(
        {"kind": "jwt", "secret_env": "UNUSED", "issuer": "iss", "audience": "aud", "algorithms": ["HS256"]}
        | settings
    )
    return Partner(
        partner_id,
        config,
        JwtVerifier(partner_id, config, SingleKey(TrustedKey(None, SECRET, frozenset({"HS256"})))),
    )


def password_partner(outbound: FakeOutbound, **settings: Any) -> Partner:
    config = PasswordPartnerConfig.model_validate({"kind": "password", "login_url": LOGIN_URL} | settings)
    verifier = config.build_verifier("pw", outbound)  # type: ignore[arg-type]
    return Partner("pw", config, verifier)


def token(**claims: Any) -> PartnerToken:
    now = int(time.time())
    payload = {"iss": "iss", "aud": "aud", "sub": "u-1", "exp": now + 300} | claims
    return PartnerToken(jwt.encode(payload, SECRET, algorithm="HS256"))


class Pipeline:
    def __init__(self) -> None:
        self.users, self.used, self.minter = FakeUsers(), FakeUsedTokens(), FakeMinter()
        self.sessions, self.attempts, self.firebase = FakeSessions(), FakeAttempts(), FakeFirebaseUsers()
        self.logins = Logins(self.users, self.used, self.minter, self.sessions, self.attempts, self.firebase)

    async def login(self, partner: Partner, credential: Any, **options: Any) -> Any:
        return await self.logins.login(partner, credential, client_address=ADDRESS, **options)


def outcomes(partner_id: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("bridge_logins_total", {"partner": partner_id, "outcome": outcome}) or 0.0
    )


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline()


async def test_a_valid_token_records_the_user_mints_a_token_and_counts_one_success(pipeline):
    partner = token_partner(tenant_id="tenant-1", static_claims={"tier": "gold"})
    before = outcomes("tok", "success")
    result = await pipeline.login(partner, token())
    assert result.custom_token == "custom-token-for:tok:u-1"
    assert pipeline.minter.minted == [("tok:u-1", {"tier": "gold"}, "tenant-1")]
    assert pipeline.users.records["tok:u-1"].login_count == 1
    assert outcomes("tok", "success") - before == 1
    assert pipeline.attempts.failures == {}


async def test_a_refused_token_is_counted_logged_with_its_reason_and_changes_nothing(pipeline, caplog):
    before = outcomes("tok", "invalid-credential")
    with caplog.at_level(logging.INFO, "bridge.login"), pytest.raises(CredentialRejected):
        await pipeline.login(token_partner(), token(exp=int(time.time()) - 600))
    assert outcomes("tok", "invalid-credential") - before == 1
    [line] = [r for r in caplog.records if r.getMessage() == "login rejected"]
    assert (line.reason, line.code) == ("ExpiredSignatureError: Signature has expired", RejectReason.EXPIRED)  # type: ignore[attr-defined]
    assert pipeline.users.records == {} and pipeline.minter.minted == []
    assert pipeline.attempts.failures == {f"invalid:tok:{ADDRESS}": 1}


async def test_an_address_over_its_invalid_limit_is_locked_out_even_with_a_valid_token(pipeline):
    partner = token_partner(max_invalid_per_address=2)
    for _ in range(2):
        with pytest.raises(CredentialRejected):
            await pipeline.login(partner, PartnerToken("not-a-jwt"))
    with pytest.raises(LockedOut):  # the failure beyond the limit is answered 429, not 401
        await pipeline.login(partner, PartnerToken("not-a-jwt"))
    before = outcomes("tok", "too-many-attempts")
    with pytest.raises(LockedOut):
        await pipeline.login(partner, token())
    assert outcomes("tok", "too-many-attempts") - before == 1
    assert pipeline.minter.minted == []


async def test_a_single_use_token_is_spent_once(pipeline):
    partner = token_partner(single_use=True)
    await pipeline.login(partner, token(jti="j-1"))
    before = outcomes("tok", "token-already-used")
    with pytest.raises(CredentialReplayed) as replayed:
        await pipeline.login(partner, token(jti="j-1"))
    assert replayed.value.code is RejectReason.REPLAYED
    assert outcomes("tok", "token-already-used") - before == 1


async def test_a_single_use_token_is_given_back_when_a_later_step_fails(pipeline):
    partner = token_partner(single_use=True)
    pipeline.minter.failure = RuntimeError("signing pool down")
    before = outcomes("tok", "error")
    with pytest.raises(RuntimeError):
        await pipeline.login(partner, token(jti="j-2"))
    assert pipeline.used.used == {}
    assert outcomes("tok", "error") - before == 1
    pipeline.minter.failure = None
    assert (await pipeline.login(partner, token(jti="j-2"))).custom_token


async def test_a_disabled_user_is_refused_before_a_single_use_token_is_spent(pipeline):
    partner = token_partner(single_use=True)
    await pipeline.login(partner, token(jti="first"))
    pipeline.users.records["tok:u-1"] = replace(pipeline.users.records["tok:u-1"], disabled=True)
    before = outcomes("tok", "user-disabled")
    with pytest.raises(UserDisabled):
        await pipeline.login(partner, token(jti="second"))
    assert outcomes("tok", "user-disabled") - before == 1
    assert ("tok", "second") not in pipeline.used.used


async def test_a_session_login_is_counted_once_after_the_session_exists(pipeline):
    result = await pipeline.login(token_partner(tenant_id="t-9"), token(), with_session=True)
    assert result.session is not None and result.session.id_token == "id-token"
    assert pipeline.sessions.signed_in == [("custom-token-for:tok:u-1", "t-9")]
    assert result.user.login_count == 1


async def test_first_login_makes_the_firebase_user_once(pipeline):
    partner = token_partner(firebase_user="on_first_login")
    await pipeline.login(partner, token(email="ann@x.test"))
    await pipeline.login(partner, token(email="ann@x.test"))
    assert pipeline.firebase.created == [("tok:u-1", {"email": "ann@x.test"}, None)]


async def test_a_password_for_a_token_partner_is_a_bad_request_outcome(pipeline):
    before = outcomes("tok", "bad-request")
    with pytest.raises(WrongCredentialKind):
        await pipeline.login(token_partner(), PasswordLogin("ann", "secret"))
    assert outcomes("tok", "bad-request") - before == 1


# --- password partners: attempts are reserved by the pipeline, never by the verifier --------------
USER_KEY = "user:pw:ann"
ADDRESS_KEY = f"address:pw:{ADDRESS}"


def refused_by_partner() -> FakeOutbound:
    return FakeOutbound(posts={LOGIN_URL: (401, {"error": "bad password"})})


async def test_a_refused_password_keeps_its_reserved_attempts(pipeline):
    partner = password_partner(refused_by_partner())
    with pytest.raises(CredentialRejected) as refused:
        await pipeline.login(partner, PasswordLogin("ann", "wrong"))
    assert refused.value.code is RejectReason.PASSWORD
    assert pipeline.attempts.failures[USER_KEY] == 1
    assert pipeline.attempts.failures[ADDRESS_KEY] == 1


async def test_a_good_password_clears_the_username_and_releases_the_address(pipeline):
    outbound = FakeOutbound(
        posts={LOGIN_URL: (200, {"jwt": "partner-session", "user": {"id": 7, "email": "a@x.test"}})}
    )
    partner = password_partner(outbound)
    pipeline.attempts.failures[USER_KEY] = 2
    result = await pipeline.login(partner, PasswordLogin("ann", "right"))
    assert result.user.external_id == "7"
    assert "jwt" not in result.identity.claims  # the partner's own session token is never kept
    assert USER_KEY not in pipeline.attempts.failures
    assert pipeline.attempts.failures[ADDRESS_KEY] == 0


async def test_a_partner_outage_releases_the_attempts(pipeline):
    outbound = FakeOutbound(down=True)
    before = outcomes("pw", "partner-unavailable")
    with pytest.raises(PartnerLoginFailed):
        await pipeline.login(password_partner(outbound), PasswordLogin("ann", "pw"))
    assert pipeline.attempts.failures == {USER_KEY: 0, ADDRESS_KEY: 0}
    assert outcomes("pw", "partner-unavailable") - before == 1


async def test_a_username_over_its_limit_never_reaches_the_partner(pipeline):
    outbound = refused_by_partner()
    partner = password_partner(outbound, max_failures_per_user=2)
    for _ in range(2):
        with pytest.raises(CredentialRejected):
            await pipeline.login(partner, PasswordLogin("ann", "wrong"))
    with pytest.raises(LockedOut):
        await pipeline.login(partner, PasswordLogin("ann", "wrong"))
    assert outbound.calls == [("POST", LOGIN_URL)] * 2


async def test_an_oversized_password_is_refused_before_any_attempt_is_taken(pipeline):
    outbound = refused_by_partner()
    with pytest.raises(CredentialRejected):
        await pipeline.login(password_partner(outbound, max_password_length=8), PasswordLogin("ann", "x" * 9))
    assert "reserve" not in pipeline.attempts.calls
    assert outbound.calls == []
    assert pipeline.attempts.failures == {f"invalid:pw:{ADDRESS}": 1}
