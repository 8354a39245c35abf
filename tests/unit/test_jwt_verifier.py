"""The JWT verifier on its own: allow-listed algorithms, `none`, iss/aud/exp, required claims and
kid handling, each refusal with its reason code. No network, no database."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.partners.base import (
    CredentialExpired,
    CredentialRejected,
    PartnerToken,
    PasswordLogin,
    RejectReason,
    WrongCredentialKind,
)
from bridge.partners.config import JwtPartnerConfig
from bridge.partners.jwks import TrustedKey
from bridge.partners.jwt_token import JwtVerifier, SingleKey

SECRET = b"s" * 64
ISSUER = "https://issuer.test"
AUDIENCE = "bridge-unit"
NOW = 1_800_000_000  # the verifier's clock in these tests: fixed, moved by hand where time matters


@dataclass
class HandClock:
    """A clock that only moves when a test moves it."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now


def rules(**overrides: Any) -> JwtPartnerConfig:
    settings: dict[str, Any] = {
        "kind": "jwt",
        "secret_env": "UNIT_SECRET",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["HS256"],
    }
    return JwtPartnerConfig.model_validate(settings | overrides)


def verifier(
    config: JwtPartnerConfig | None = None,
    key: TrustedKey | None = None,
    clock: HandClock | None = None,
) -> JwtVerifier:
    config = config or rules()
    return JwtVerifier(
        "unit",
        config,
        SingleKey(key or TrustedKey(None, SECRET, frozenset(config.algorithms))),
        clock or HandClock(),
    )


def token(
    claims: dict[str, Any] | None = None, key: Any = SECRET, algorithm: str = "HS256", **headers: Any
) -> str:
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "iat": NOW, "exp": NOW + 300} | (claims or {})
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


async def rejection(verifier: JwtVerifier, presented: str) -> CredentialRejected:
    with pytest.raises(CredentialRejected) as refused:
        await verifier.verify(PartnerToken(presented))
    return refused.value


def unsigned(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_a_valid_token_gives_the_identity_it_names():
    identity = await verifier().verify(PartnerToken(token({"email": "Ann@Example.COM", "name": "Ann"})))
    assert (identity.partner, identity.external_id) == ("unit", "u-1")
    assert identity.email == "ann@example.com"
    assert identity.display_name == "Ann"


async def test_alg_none_is_refused_as_an_algorithm_not_allowed():
    refused = await rejection(
        verifier(), unsigned({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": NOW + 60})
    )
    assert refused.code is RejectReason.ALGORITHM
    assert str(refused) == "algorithm 'none' is not allowed"


async def test_an_algorithm_outside_the_allow_list_is_refused_before_any_key_is_used():
    refused = await rejection(verifier(), token(algorithm="HS384"))
    assert (refused.code, str(refused)) == (RejectReason.ALGORITHM, "algorithm 'HS384' is not allowed")


async def test_an_unknown_algorithm_name_is_not_echoed_into_the_reason():
    header = base64.urlsafe_b64encode(b'{"alg":"evil<script>"}').rstrip(b"=").decode()
    refused = await rejection(verifier(), f"{header}.e30.sig")
    assert str(refused) == "algorithm '(unknown)' is not allowed"


async def test_a_wrong_signature_is_refused_as_a_signature():
    refused = await rejection(verifier(), token(key=b"x" * 32))
    assert refused.code is RejectReason.SIGNATURE


async def test_a_token_expires_at_its_exp_with_the_expired_code_and_todays_log_text():
    clock = HandClock()
    check = verifier(rules(leeway_seconds=0), clock=clock)
    presented = PartnerToken(token({"exp": NOW + 120}))
    clock.now = NOW + 119
    assert (await check.verify(presented)).external_id == "u-1"
    clock.now = NOW + 120
    with pytest.raises(CredentialRejected) as refused:
        await check.verify(presented)
    assert isinstance(refused.value, CredentialExpired) and refused.value.code is RejectReason.EXPIRED
    assert str(refused.value) == "ExpiredSignatureError: Signature has expired"


async def test_expiry_within_the_leeway_is_accepted_and_refused_past_it():
    clock = HandClock(NOW + 30)
    check, presented = verifier(rules(leeway_seconds=60), clock=clock), PartnerToken(token({"exp": NOW}))
    assert (await check.verify(presented)).external_id == "u-1"
    clock.now = NOW + 60
    assert (await rejection(check, presented.token)).code is RejectReason.EXPIRED


async def test_a_token_is_refused_until_its_nbf_then_accepted():
    clock = HandClock()
    check = verifier(rules(leeway_seconds=0), clock=clock)
    presented = PartnerToken(token({"nbf": NOW + 3600, "exp": NOW + 7200}))
    refused = await rejection(check, presented.token)
    assert (refused.code, str(refused)) == (
        RejectReason.NOT_YET_VALID,
        "ImmatureSignatureError: The token is not yet valid (nbf)",
    )
    clock.now = NOW + 3599
    assert (await rejection(check, presented.token)).code is RejectReason.NOT_YET_VALID
    clock.now = NOW + 3600
    assert (await check.verify(presented)).external_id == "u-1"


async def test_a_token_older_than_the_max_age_is_refused():
    clock = HandClock()
    check = verifier(rules(max_token_age_seconds=60, leeway_seconds=5), clock=clock)
    presented = PartnerToken(token({"iat": NOW, "exp": NOW + 3600}))
    clock.now = NOW + 65
    assert (await check.verify(presented)).external_id == "u-1"
    clock.now = NOW + 66
    refused = await rejection(check, presented.token)
    assert (refused.code, str(refused)) == (RejectReason.CLAIMS, "token is older than 60 s")


def without_exp() -> str:
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1"}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        (lambda: token({"iss": "https://other.test"}), RejectReason.ISSUER),
        (lambda: token({"aud": "someone-else"}), RejectReason.AUDIENCE),
        (without_exp, RejectReason.MISSING_CLAIM),
        (lambda: token({"nbf": NOW + 3600}), RejectReason.NOT_YET_VALID),
        (lambda: token({"exp": "1900000000"}), RejectReason.CLAIMS),
    ],
    ids=["issuer", "audience", "no-exp", "not-yet-valid", "exp-as-string"],
)
async def test_registered_claims_are_checked_with_their_own_code(presented, code):
    refused = await rejection(verifier(), presented())
    assert refused.code is code


async def test_required_claims_match_strictly_by_type_and_value():
    strict = verifier(rules(required_claims={"tier": ["gold", "silver"], "beta": True}))
    assert (await strict.verify(PartnerToken(token({"tier": "gold", "beta": True})))).external_id == "u-1"
    refused = await rejection(strict, token({"tier": "gold", "beta": 1}))  # 1 is not true
    assert (refused.code, str(refused)) == (RejectReason.CLAIMS, "required claim 'beta' does not match")
    refused = await rejection(strict, token({"tier": ["gold"], "beta": True}))  # a list is not a value
    assert str(refused) == "required claim 'tier' does not match"


async def test_a_token_without_a_usable_user_id_is_refused_as_identity():
    refused = await rejection(verifier(), token({"sub": "  "}))
    assert refused.code is RejectReason.IDENTITY


async def test_single_use_partners_require_a_jti():
    refused = await rejection(verifier(rules(single_use=True)), token())
    assert refused.code is RejectReason.MISSING_CLAIM
    identity = await verifier(rules(single_use=True)).verify(PartnerToken(token({"jti": "once"})))
    assert identity.claims["jti"] == "once"


async def test_a_crit_header_is_refused_as_a_header():
    refused = await rejection(verifier(), token(crit=["exp"]))
    assert refused.code is RejectReason.HEADER


async def test_an_oversized_token_is_refused_before_decoding():
    refused = await rejection(verifier(rules(max_token_bytes=256)), "a" * 300)
    assert (refused.code, str(refused)) == (RejectReason.MALFORMED, "token is longer than 256 bytes")


async def test_a_password_is_the_wrong_kind_of_credential_for_a_token_partner():
    with pytest.raises(WrongCredentialKind):
        await verifier().verify(PasswordLogin("ann", "secret"))


# --- kid handling: the kid only selects among trusted keys ----------------------------------------
class TwoKeys:
    """A key source holding two RSA keys by kid (what a JWKS key set hands the verifier)."""

    def __init__(self, keys: dict[str, rsa.RSAPrivateKey]) -> None:
        self._keys = {
            kid: TrustedKey(kid, key.public_key(), frozenset({"RS256"})) for kid, key in keys.items()
        }

    async def key_for(self, kid: str | None) -> TrustedKey:
        if kid not in self._keys:
            raise CredentialRejected("no trusted key matches", RejectReason.UNKNOWN_KEY)
        return self._keys[kid]


@pytest.fixture(scope="module")
def rsa_keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def rsa_verifier(rsa_keys: dict[str, rsa.RSAPrivateKey]) -> JwtVerifier:
    config = JwtPartnerConfig.model_validate(
        {
            "kind": "jwt",
            "jwks_url": "https://keys.test/jwks",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "algorithms": ["RS256"],
        }
    )
    return JwtVerifier("unit", config, TwoKeys(rsa_keys), HandClock())


async def test_the_kid_selects_the_key_the_token_was_signed_with(rsa_keys):
    check = rsa_verifier(rsa_keys)
    for kid in ("k1", "k2"):
        identity = await check.verify(PartnerToken(token(key=rsa_keys[kid], algorithm="RS256", kid=kid)))
        assert identity.external_id == "u-1"


async def test_a_kid_naming_another_trusted_key_fails_the_signature(rsa_keys):
    refused = await rejection(rsa_verifier(rsa_keys), token(key=rsa_keys["k1"], algorithm="RS256", kid="k2"))
    assert refused.code is RejectReason.SIGNATURE


async def test_an_unknown_kid_is_refused(rsa_keys):
    refused = await rejection(rsa_verifier(rsa_keys), token(key=rsa_keys["k1"], algorithm="RS256", kid="k9"))
    assert refused.code is RejectReason.UNKNOWN_KEY


async def test_signed_claims_read_an_expired_token_but_never_a_forged_one(rsa_keys):
    check = rsa_verifier(rsa_keys)
    expired = token(
        {"exp": NOW - 600, "error_redirect_url": "https://x.test"}, rsa_keys["k1"], "RS256", kid="k1"
    )
    claims = await check.signed_claims(expired)
    assert claims is not None and claims["error_redirect_url"] == "https://x.test"
    forged = token({"exp": NOW - 600}, rsa_keys["k2"], "RS256", kid="k1")
    assert await check.signed_claims(forged) is None
