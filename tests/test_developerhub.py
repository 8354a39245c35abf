"""DeveloperHub-style redirect login: a partner route with `jwt=`, `dh_jwt_error`, tokens without
iss/aud (require_issuer / require_audience = false) and the token's own error_redirect_url."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from bridge.partners.config import ConfigError

DOCS = "https://docs.acme.test"


def dh_partner(**options: Any) -> dict[str, Any]:
    return {
        "kind": "jwt",
        "algorithms": ["HS256", "HS512"],
        "secret_file": "acme.secret",
        "require_issuer": False,
        "require_audience": False,
        "single_use": True,
        "user_id_claim": "vars.user_id",
        "email_claim": "vars.email",
        "name_claim": "vars.name",
        "redirect_urls": [f"{DOCS}/"],
        "default_redirect_url": f"{DOCS}/",
        "error_redirect_url": f"{DOCS}/login-error",
        "token_param": "jwt",
        "error_param": "dh_jwt_error",
        "error_redirect_from_token": True,
        "route": {"path": "/docs-login", "contract": "redirect"},
        **options,
    }


def dh_token(secret: str, algorithm: str = "HS512", **claims: Any) -> str:
    """What a DeveloperHub partner backend signs: no iss, no aud."""
    payload = {
        "version": 1,
        "vars": {"user_id": "u-7", "email": "reader@acme.test", "name": "Reader"},
        "jti": secrets.token_hex(8),
        "error_redirect_url": f"{DOCS}/guides/login-failed",
        "exp": int(time.time()) + 300,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=algorithm)


def error_at(response: Any) -> tuple[str, str]:
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    return (
        f"{location.scheme}://{location.netloc}{location.path}",
        parse_qs(location.query)["dh_jwt_error"][0],
    )


@pytest.fixture
async def client(start_with_partners):
    return await start_with_partners(dh=dh_partner())


async def get(client: Any, **query: str) -> Any:
    return await client.get("/docs-login", params=query, allow_redirects=False)


async def test_the_partners_literal_redirect_logs_in(client, keys, db):
    token = dh_token(keys.hmac_secret)

    response = await get(client, jwt=token, redirect=f"{DOCS}/guides/start")

    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(f"{DOCS}/guides/start#")
    fragment = {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}
    assert fragment["uid"] == "dh:u-7" and fragment["custom_token"]
    user = await db.users.find_one({"uid": "dh:u-7"})
    assert (user["email"], user["display_name"]) == ("reader@acme.test", "Reader")
    hs256 = await get(client, jwt=dh_token(keys.hmac_secret, "HS256", vars={"user_id": "u-8"}))
    assert hs256.headers["Location"].startswith(f"{DOCS}/#custom_token=")


async def test_failures_of_a_verified_token_go_to_its_own_error_url(client, keys):
    used = dh_token(keys.hmac_secret)
    assert (await get(client, jwt=used)).status == 302

    assert error_at(await get(client, jwt=used)) == (
        f"{DOCS}/guides/login-failed",
        "Token has already been used",
    )
    expired = dh_token(keys.hmac_secret, exp=int(time.time()) - 600)
    assert error_at(await get(client, jwt=expired)) == (f"{DOCS}/guides/login-failed", "Token expired")


async def test_an_unverified_tokens_error_url_is_never_followed(client, keys):
    forged = dh_token(secrets.token_hex(32), error_redirect_url="https://evil.test/phish")
    assert error_at(await get(client, jwt=forged)) == (f"{DOCS}/login-error", "Invalid token")
    assert error_at(await get(client, jwt="not-a-jwt")) == (f"{DOCS}/login-error", "Invalid token")
    assert error_at(await get(client)) == (f"{DOCS}/login-error", "Invalid token")


async def test_a_verified_tokens_error_url_outside_the_allow_list_is_not_followed(client, keys):
    outside = dh_token(keys.hmac_secret, error_redirect_url="https://evil.test/phish", exp=1)
    assert error_at(await get(client, jwt=outside)) == (f"{DOCS}/login-error", "Token expired")


async def test_iss_and_aud_when_present_must_still_match(start_with_partners, keys):
    client = await start_with_partners(dh=dh_partner(issuer="https://partner.test", audience="bridge"))
    wrong_iss = dh_token(keys.hmac_secret, iss="https://other.test")
    wrong_aud = dh_token(keys.hmac_secret, aud="other-service")
    right = dh_token(keys.hmac_secret, iss="https://partner.test", aud="bridge")
    assert error_at(await get(client, jwt=wrong_iss))[1] == "Invalid token"
    assert error_at(await get(client, jwt=wrong_aud))[1] == "Invalid token"
    assert (await get(client, jwt=right)).headers["Location"].startswith(f"{DOCS}/#custom_token=")


async def test_without_require_flags_iss_and_aud_stay_mandatory(start_with_partners, keys):
    client = await start_with_partners(
        dh=dh_partner(require_issuer=True, require_audience=True, issuer="https://p.test", audience="b")
    )
    assert error_at(await get(client, jwt=dh_token(keys.hmac_secret)))[1] == "Invalid token"


def test_relaxed_partners_log_a_warning_at_start_up(make_settings, caplog):
    from bridge.app import create_app

    caplog.set_level(logging.WARNING, "bridge.partners")
    create_app(make_settings(extra_partners={"dh": dh_partner()}))
    warnings = [r for r in caplog.records if getattr(r, "partner", None) == "dh"]
    assert len(warnings) == 1 and warnings[0].relaxed == "require_issuer,require_audience"


@pytest.mark.parametrize(
    ("table", "refusal"),
    [
        (
            {
                "kind": "jwt",
                "jwks_url": "https://p.test/jwks.json",
                "algorithms": ["RS256"],
                "require_issuer": False,
                "audience": "b",
            },
            "require_issuer / require_audience = false is allowed only for a secret or PEM key held by "
            "this partner alone, never with jwks_url",
        ),
        (
            {"kind": "oidc", "issuer": "https://p.test", "audience": "b", "require_audience": False},
            "require_issuer / require_audience = false is never allowed for OIDC providers",
        ),
        (
            {"kind": "jwt", "secret_env": "X", "algorithms": ["HS256"], "audience": "b"},
            "field 'issuer': Field required (require_issuer = false: secret or PEM keys only)",
        ),
    ],
)
def test_relaxing_is_refused_for_published_keys_and_issuer_stays_required_by_default(
    make_settings, table, refusal
):
    with pytest.raises(ConfigError) as error:
        make_settings(extra_partners={"p": table})
    assert str(error.value).endswith(f"partner 'p': {refusal}")


async def test_a_head_request_never_spends_the_token(client, keys, db):
    token = dh_token(keys.hmac_secret)
    head = await client.head(f"/docs-login?jwt={token}", allow_redirects=False)
    assert head.status == 405
    assert await db.used_tokens.count_documents({}) == 0
    assert (await get(client, jwt=token)).headers["Location"].startswith(f"{DOCS}/#custom_token=")


async def test_refusals_before_the_token_is_read_are_logged_with_their_reason(client, keys, caplog):
    """The person sees the message; the operator finds the reason in the `login rejected` line, as
    for every other refusal (a refused redirect or a missing token left only the access line)."""
    caplog.set_level(logging.INFO, "bridge.login")
    token = dh_token(keys.hmac_secret)
    await get(client, jwt=token, redirect="https://evil.test/")
    await get(client)
    await client.get("/v1/login/redirect?partner=dh&redirect=https://evil.test/", allow_redirects=False)

    rejected = [
        (r.partner, r.reason)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "login rejected"
    ]
    assert rejected == [
        ("dh", "redirect address not allowed"),
        ("dh", "no `jwt`"),
        ("dh", "redirect address not allowed"),
    ]
    assert token not in caplog.text
