"""Admins verify and manage users: access, search, verdicts, actions with audit, reconcile, CLI, page."""

from __future__ import annotations

import asyncio
import html
import json
import re
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from every_credential import ADMIN_PARTNER
from firebase_admin import auth
from markupsafe import escape

from bridge.app import create_app
from bridge.cli.main import main
from bridge.store.api_keys import ApiKeys

from browser import CHROMIUM, Browser
from conftest import PROJECT_ID
from fault_proxy import FaultProxy
from partner_tokens import ISSUER

STAFF = ADMIN_PARTNER


@pytest.fixture
async def client(aiohttp_client, make_settings):
    return await aiohttp_client(create_app(make_settings(extra_partners={"staffsso": STAFF})))


@pytest.fixture
async def keys_by_role(db) -> dict[str, str]:
    api_keys = ApiKeys(db)
    _, admin = await api_keys.create("ops", {"admin"})
    _, writer = await api_keys.create("backend", {"accounts:write"})
    return {"admin": admin, "writer": writer}


@pytest.fixture
def as_admin(keys_by_role) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys_by_role['admin']}"}


def staff_token(keys: Any, role: str) -> str:
    return keys.token("staff", iss="https://staff-sso.test", sub=f"staff-{role}", role=role)


async def create_account(client: Any, keys_by_role: dict[str, str], external_id: str, **fields: Any) -> str:
    response = await client.post(
        "/v1/accounts",
        headers={"Authorization": f"Bearer {keys_by_role['writer']}"},
        json={"partner": "acme", "external_id": external_id, **fields},
    )
    assert response.status == 201, await response.text()
    uid: str = (await response.json())["user"]["uid"]
    return uid


ADMIN_ROUTES = [
    ("GET", "/admin/v1/users"),
    ("GET", "/admin/v1/users/{uid}"),
    ("POST", "/admin/v1/users/{uid}/disable"),
    ("POST", "/admin/v1/users/{uid}/enable"),
    ("POST", "/admin/v1/users/{uid}/revoke"),
    ("PUT", "/admin/v1/users/{uid}/claims"),
    ("DELETE", "/admin/v1/users/{uid}"),
    ("GET", "/admin/v1/audit"),
    ("GET", "/admin/v1/reconcile"),
    ("GET", "/admin"),
    ("GET", "/admin/users/{uid}"),
    ("POST", "/admin/users/{uid}/disable"),
]


def test_every_admin_route_is_in_the_access_test(app):
    registered = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/admin/")
        and r.resource.canonical not in ("/admin/login", "/admin/logout")
    }
    listed = {(m, p.replace("{uid}", "{ref}")) for m, p in ADMIN_ROUTES} | {("GET", "/admin")}
    listed = {
        (m, p.replace("/disable", "/{action}") if p.startswith("/admin/users/") else p) for m, p in listed
    }
    assert {(m, p) for m, p in registered} <= listed | {("HEAD", p) for _, p in listed}


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_need_an_admin_credential(client, keys, keys_by_role, method, path, db):
    uid = await create_account(client, keys_by_role, f"acc-{uuid.uuid4().hex[:6]}")
    url = path.replace("{uid}", uid)
    body = {"claims": {"role": "x"}} if path.endswith("/claims") else None

    anonymous = await client.request(method, url, json=body)
    non_admin_key = await client.request(
        method, url, json=body, headers={"Authorization": f"Bearer {keys_by_role['writer']}"}
    )
    non_admin_token = await client.request(
        method, url, json=body, headers={"Authorization": f"Bearer {staff_token(keys, 'viewer')}"}
    )
    admin_token = await client.request(
        method,
        url,
        json=body,
        allow_redirects=False,
        headers={"Authorization": f"Bearer {staff_token(keys, 'admin')}"},
    )

    assert (anonymous.status, non_admin_key.status, non_admin_token.status) == (401, 403, 403)
    page_form_post = method == "POST" and path.startswith("/admin/users/")  # answered with a redirect
    assert admin_token.status == (303 if page_form_post else 200), await admin_token.text()
    assert await db.users.count_documents({"uid": uid, "disabled": True}) == (
        1 if path.endswith("/disable") else 0
    )


async def test_list_filters_pagination_and_total(client, keys, keys_by_role, as_admin, db):
    for n in range(5):
        await create_account(client, keys_by_role, f"list-{n}", email=f"list{n}@acme.test", disabled=n == 4)
    await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="loginer")})
    await db.users.update_one(
        {"uid": "acme:list-0"}, {"$set": {"created_at": datetime.now(UTC) - timedelta(days=9)}}
    )

    async def users(**query: Any) -> dict[str, Any]:
        response = await client.get(
            "/admin/v1/users", params={k: str(v) for k, v in query.items()}, headers=as_admin
        )
        assert response.status == 200, await response.text()
        page: dict[str, Any] = await response.json()
        return page

    assert (await users())["total"] == 6
    assert [u["uid"] for u in (await users(email="list2@acme.test"))["users"]] == ["acme:list-2"]
    assert (await users(uid_prefix="acme:list-"))["total"] == 5
    assert [u["uid"] for u in (await users(disabled="true"))["users"]] == ["acme:list-4"]
    assert (await users(disabled="false"))["total"] == 5
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert "acme:list-0" not in [u["uid"] for u in (await users(created_from=since))["users"]]
    seen, cursor = [], None
    while True:
        page = await users(limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [u["uid"] for u in page["users"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6
    assert (await client.get("/admin/v1/users", params={"limit": "0"}, headers=as_admin)).status == 400


async def test_verify_shows_both_records_and_detects_drift(
    client, keys_by_role, as_admin, db, firebase_admin_app
):
    consistent = await create_account(
        client, keys_by_role, "v-ok", email="ok@acme.test", claims={"tier": "gold"}
    )
    deleted_in_firebase = await create_account(client, keys_by_role, "v-gone", email="gone@acme.test")
    email_changed = await create_account(client, keys_by_role, "v-mail", email="old@acme.test")
    await asyncio.to_thread(auth.delete_user, deleted_in_firebase, app=firebase_admin_app)
    await db.users.update_one({"uid": email_changed}, {"$set": {"email": "new@acme.test"}})

    ok = await (await client.get(f"/admin/v1/users/{consistent}", headers=as_admin)).json()
    gone = await (await client.get(f"/admin/v1/users/{deleted_in_firebase}", headers=as_admin)).json()
    mail = await (await client.get(f"/admin/v1/users/users/{email_changed}", headers=as_admin)).json()

    assert ok["verdict"] == {"consistent": True, "differences": [], "state": "consistent"}
    assert ok["firebase"]["uid"] == consistent and ok["firebase"]["email"] == "ok@acme.test"
    assert ok["firebase"]["custom_claims"] == {"tier": "gold"} and ok["firebase"]["created_at"]
    assert ok["mongodb"]["custom_claims"] == {"tier": "gold"}
    assert gone["verdict"] == {
        "consistent": False,
        "differences": [{"field": "presence", "detail": "missing in Firebase"}],
        "state": "drift",
    }
    assert mail["verdict"]["differences"] == [
        {"field": "email", "mongodb": "new@acme.test", "firebase": "old@acme.test"}
    ]
    assert (await client.get("/admin/v1/users/acme:nobody", headers=as_admin)).status == 404


async def test_actions_change_both_stores_and_are_audited(
    client, keys, keys_by_role, as_admin, db, firebase_admin_app
):
    login = await (
        await client.post(
            "/v1/login", json={"partner": "acme", "token": keys.token(sub="act"), "session": True}
        )
    ).json()
    uid, id_token = login["user"]["uid"], login["id_token"]
    bearer = {"Authorization": f"Bearer {id_token}"}
    await client.put("/v1/me/devices", headers=bearer, json={"token": "device-of-act-0123456789"})
    audited = {**as_admin, "X-Request-Id": "admin-req-1"}

    disabled = await client.post(f"/admin/v1/users/{uid}/disable", headers=audited)
    assert disabled.status == 200
    assert (await disabled.json())["verdict"]["consistent"] is True
    assert (await db.users.find_one({"uid": uid}))["disabled"] is True
    assert (await asyncio.to_thread(auth.get_user, uid, app=firebase_admin_app)).disabled is True
    assert (await client.get("/v1/me", headers=bearer)).status == 401  # sessions revoked on disable
    assert (
        await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="act")})
    ).status == 403

    assert (await client.post(f"/admin/v1/users/{uid}/enable", headers=as_admin)).status == 200
    assert (await asyncio.to_thread(auth.get_user, uid, app=firebase_admin_app)).disabled is False
    assert (
        await client.post("/v1/login", json={"partner": "acme", "token": keys.token(sub="act")})
    ).status == 200

    claims = await client.put(
        f"/admin/v1/users/{uid}/claims", headers=as_admin, json={"claims": {"plan": "pro"}}
    )
    assert claims.status == 200
    assert (await asyncio.to_thread(auth.get_user, uid, app=firebase_admin_app)).custom_claims == {
        "plan": "pro"
    }
    assert (await db.users.find_one({"uid": uid}))["custom_claims"] == {"plan": "pro"}
    bad = await client.put(f"/admin/v1/users/{uid}/claims", headers=as_admin, json={"claims": {"iss": "x"}})
    assert bad.status == 400

    assert (await client.post(f"/admin/v1/users/{uid}/revoke", headers=as_admin)).status == 200
    deleted = await client.delete(f"/admin/v1/users/{uid}", headers=as_admin)
    assert deleted.status == 200 and (await deleted.json())["deleted"] is True
    assert await db.users.count_documents({"uid": uid}) == 0
    assert await db.devices.count_documents({"uid": uid}) == 0
    with pytest.raises(auth.UserNotFoundError):
        await asyncio.to_thread(auth.get_user, uid, app=firebase_admin_app)

    log = await (await client.get("/admin/v1/audit", params={"target": uid}, headers=as_admin)).json()
    actions = [e["action"] for e in log["entries"]]
    assert actions == ["delete", "revoke", "replace-claims", "enable", "disable"]
    disable_entry = log["entries"][-1]
    assert disable_entry["actor"].startswith("api-key:") and disable_entry["request_id"] == "admin-req-1"
    assert disable_entry["before"]["mongodb"]["disabled"] is False
    assert disable_entry["after"]["mongodb"]["disabled"] is True and disable_entry["at"]
    only_disable = await (
        await client.get("/admin/v1/audit", params={"action": "disable"}, headers=as_admin)
    ).json()
    assert [e["target"] for e in only_disable["entries"]] == [uid]


def _partners_toml(directory: Path) -> Path:
    path = directory / "partners.toml"
    path.write_text(
        f'[partners.acme]\nkind = "jwt"\nissuer = "{ISSUER}"\naudience = "bridge"\n'
        f'algorithms = ["HS256"]\nsecret_file = "{directory / "acme.secret"}"\n'
    )
    return path


@pytest.fixture
def cli_env(monkeypatch, mongodb_uri, database_name, service_account_file, partner_keys, auth_emulator_host):
    _, directory = partner_keys
    monkeypatch.setenv("BRIDGE_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("BRIDGE_MONGODB_DATABASE", database_name)
    monkeypatch.setenv("BRIDGE_SERVICE_ACCOUNT_FILE", str(service_account_file))
    monkeypatch.setenv("BRIDGE_PARTNERS_FILE", str(_partners_toml(directory)))


async def cli(capsys: Any, *args: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, list(args))
    return code, capsys.readouterr().out


def wipe_emulator(host: str) -> None:
    request = urllib.request.Request(
        f"http://{host}/emulator/v1/projects/{PROJECT_ID}/accounts", method="DELETE"
    )
    urllib.request.urlopen(request, timeout=5).close()


async def test_reconcile_finds_drift_and_fix_repairs_it(
    client, keys_by_role, as_admin, db, firebase_admin_app, auth_emulator_host, cli_env, capsys
):
    wipe_emulator(auth_emulator_host)
    await create_account(client, keys_by_role, "r-fine", email="fine@acme.test")
    gone = await create_account(client, keys_by_role, "r-gone", email="gone@acme.test")
    mail = await create_account(client, keys_by_role, "r-mail", email="old@acme.test")
    await asyncio.to_thread(auth.delete_user, gone, app=firebase_admin_app)
    await db.users.update_one({"uid": mail}, {"$set": {"email": "new@acme.test"}})
    await asyncio.to_thread(
        auth.create_user, uid="acme:r-orphan", email="orphan@acme.test", app=firebase_admin_app
    )
    await asyncio.to_thread(auth.create_user, uid="not-bridges", app=firebase_admin_app)

    dry = await (await client.get("/admin/v1/reconcile", headers=as_admin)).json()
    assert dry["missing_in_firebase"] == [gone]
    assert dry["missing_in_mongodb"] == ["acme:r-orphan"]  # the project's other users are not bridge's
    assert [d["uid"] for d in dry["differing"]] == [mail]
    assert dry["consistent"] is False and dry["fixed"] == []

    code, out = await cli(capsys, "admin", "reconcile", "--fix", "--json")
    fixed = json.loads(out)
    assert code == 0 and sorted(fixed["fixed"]) == sorted([gone, mail, "acme:r-orphan"])

    after = await (await client.get("/admin/v1/reconcile", headers=as_admin)).json()
    assert after["consistent"] is True
    assert (await asyncio.to_thread(auth.get_user, mail, app=firebase_admin_app)).email == "new@acme.test"
    orphan = await db.users.find_one({"uid": "acme:r-orphan"})
    assert orphan["external_id"] == "r-orphan" and orphan["email"] == "orphan@acme.test"
    code, out = await cli(capsys, "admin", "reconcile")
    assert code == 0 and "consistent" in out


async def test_cli_users_commands_use_the_same_paths(
    client, keys_by_role, db, firebase_admin_app, cli_env, capsys
):
    uid = await create_account(client, keys_by_role, "cli-user", email="cli@acme.test")

    code, out = await cli(capsys, "admin", "users", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and [r["mongodb"]["uid"] for r in listed["users"]] == [uid]
    assert listed["users"][0]["verdict"]["consistent"] is True
    code, out = await cli(capsys, "admin", "users", "list")
    assert uid in out and "consistent" in out and "MongoDB vs Firebase" in out
    code, out = await cli(capsys, "admin", "users", "verify", uid)
    assert code == 0 and "verdict: consistent" in out and "cli@acme.test" in out

    code, _ = await cli(capsys, "admin", "users", "disable", uid, "--json")
    assert (
        code == 0 and (await asyncio.to_thread(auth.get_user, uid, app=firebase_admin_app)).disabled is True
    )
    entry = await db.audit.find_one({"target": uid, "action": "disable"})
    assert entry["actor"].startswith("cli:")
    code, out = await cli(capsys, "admin", "users", "delete", uid)
    assert code == 0 and "deleted" in out
    code, _ = await cli(capsys, "admin", "users", "show", uid)
    assert code == 1


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it as root)"
)
async def test_admin_page_in_a_real_browser(client, keys_by_role, db, firebase_admin_app):
    healthy = await create_account(client, keys_by_role, "page-ok", email="page-ok@acme.test")
    drifted = await create_account(client, keys_by_role, "page-gone", email="page-gone@acme.test")
    await asyncio.to_thread(auth.delete_user, drifted, app=firebase_admin_app)
    base = str(client.make_url("")).rstrip("/")
    browser = await Browser().start()
    try:
        await browser.open(f"{base}/admin")
        assert "Sign in" in await browser.text()
        await browser.submit(
            f"document.querySelector('input[name=credential]').value = "
            f"{json.dumps(keys_by_role['admin'])}; document.querySelector('form').submit()"
        )
        listing = await browser.text()
        assert "Users" in listing and "2 users" in listing
        assert healthy in listing and "✓ consistent" in listing
        assert drifted in listing and "✗ missing in Firebase" in listing

        await browser.submit(
            f"[...document.querySelectorAll('a')].find(a => a.textContent === {json.dumps(drifted)}).click()"
        )
        detail = await browser.text()
        assert "missing in Firebase" in detail and "MongoDB" in detail and "page-gone@acme.test" in detail

        await browser.submit(
            "[...document.querySelectorAll('button')].find(b => b.textContent === 'Disable').click()"
        )
        assert "disabled" in (await browser.text()).lower()
        assert (await db.users.find_one({"uid": drifted}))["disabled"] is True
    finally:
        await browser.close()


async def test_claims_set_by_an_admin_survive_the_next_login(client, keys, as_admin, db, firebase_admin_app):
    login = await (
        await client.post(
            "/v1/login", json={"partner": "acme", "token": keys.token(sub="keep", role="r"), "session": True}
        )
    ).json()
    uid = login["user"]["uid"]
    assert (
        await client.put(f"/admin/v1/users/{uid}/claims", headers=as_admin, json={"claims": {"plan": "pro"}})
    ).status == 200

    again = await (
        await client.post(
            "/v1/login", json={"partner": "acme", "token": keys.token(sub="keep", role="r"), "session": True}
        )
    ).json()

    assert again["user"]["claims"] == {"via": "acme", "role": "r"}  # from the partner token
    assert again["user"]["custom_claims"] == {"plan": "pro"}  # kept
    state = await (await client.get(f"/admin/v1/users/{uid}", headers=as_admin)).json()
    assert state["verdict"]["consistent"] is True
    decoded = await asyncio.to_thread(auth.verify_id_token, again["id_token"], app=firebase_admin_app)
    assert decoded["plan"] == "pro" and decoded["role"] == "r"  # both kinds reach the ID token


async def test_a_failure_half_way_is_reported_audited_and_shown_by_the_verdict(
    aiohttp_client, aiohttp_server, make_settings, keys_by_role, db, auth_emulator_host, monkeypatch
):
    proxy = FaultProxy(upstream=f"http://{auth_emulator_host}")
    running = await aiohttp_server(proxy.app())
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{running.port}")  # Firebase via the proxy
    client = await aiohttp_client(create_app(make_settings()))
    uid = await create_account(client, keys_by_role, "half-way")
    as_admin = {"Authorization": f"Bearer {keys_by_role['admin']}"}

    proxy.allow = proxy.forwarded + 1  # the action's first Firebase call works, the next ones fail
    response = await client.post(f"/admin/v1/users/{uid}/disable", headers=as_admin)

    assert response.status == 502
    assert (await response.json())["type"] == "/problems/partly-applied"
    entry = await db.audit.find_one({"target": uid, "action": "disable"})
    assert entry["outcome"] == "partial" and "AuthUnavailable" in entry["error"]
    proxy.allow = None  # Firebase is back
    state = await (await client.get(f"/admin/v1/users/{uid}", headers=as_admin)).json()
    assert state["verdict"]["differences"] == [{"field": "disabled", "mongodb": True, "firebase": False}]

    retried = await client.post(f"/admin/v1/users/{uid}/disable", headers=as_admin)  # repairable: retry
    assert retried.status == 200 and (await retried.json())["verdict"]["consistent"] is True


async def test_admin_page_escapes_what_it_shows_and_its_links_lead_to_the_user(
    client, keys_by_role, as_admin
):
    uid = await create_account(client, keys_by_role, 'a<b>&"c', display_name="<script>x</script>")

    listing = await client.get("/admin", headers=as_admin)
    page = await listing.text()
    link = html.unescape(re.findall(r'<a href="(/admin/users/[^"]+)"><code>', page)[0])
    detail = await client.get(link, headers=as_admin)
    detail_page = await detail.text()

    assert listing.status == 200 and listing.headers["X-Frame-Options"] == "DENY"
    assert str(escape(uid)) == "acme:a&lt;b&gt;&amp;&#34;c"
    assert str(escape(uid)) in page and uid not in page
    assert detail.status == 200 and f"<code>{escape(uid)}</code>" in detail_page
    assert "&lt;script&gt;x&lt;/script&gt;" in detail_page and "<script>" not in detail_page
    assert f'action="{escape(link)}/disable"' in detail_page  # the action's link, from its route name
