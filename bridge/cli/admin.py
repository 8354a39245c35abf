"""`bridge admin …`: the admin commands, on the same service as the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from bridge.firebase.auth_admin import FirebaseAuth
from bridge.firebase.service_account import load_service_account
from bridge.infra.outbound import Outbound
from bridge.partners import build_partners
from bridge.services.admin import AdminService, PartlyApplied, ReconcileReport, UserFilter, UserNotFound
from bridge.services.verdict import PENDING_FIRST_SIGN_IN
from bridge.settings import load_settings
from bridge.store.audit import AuditLog
from bridge.store.devices import DeviceStore
from bridge.store.mongo import open_client
from bridge.store.users import UserStore


@asynccontextmanager
async def admin_service() -> AsyncIterator[AdminService]:
    """The admin service wired from BRIDGE_* settings and the partners file, as `bridge serve` is."""
    settings = load_settings()
    client = open_client(settings.mongodb_uri, settings.mongodb_timeout_ms)
    database = client[settings.mongodb_database]
    pool = ThreadPoolExecutor(8, thread_name_prefix="firebase")
    service_account = load_service_account(settings.service_account_path())
    firebase = FirebaseAuth(service_account, settings.firebase_project_id or service_account.project_id, pool)
    partners = build_partners(settings.partners, Outbound())
    try:
        yield AdminService(UserStore(database), DeviceStore(database), firebase, AuditLog(database), partners)
    finally:
        firebase.close()
        pool.shutdown()
        await client.close()


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _verdict_text(verdict: dict[str, Any]) -> str:
    if verdict.get("state") == PENDING_FIRST_SIGN_IN:
        return PENDING_FIRST_SIGN_IN
    if verdict["consistent"]:
        return "consistent"
    return "; ".join(d.get("detail") or f"{d['field']} differs" for d in verdict["differences"])


def _print_user(state: dict[str, Any]) -> None:
    print(f"uid {state['uid']}  ({state['devices']} device(s))")
    print(f"verdict: {_verdict_text(state['verdict'])}")
    fields = sorted(set(state["mongodb"] or {}) | set(state["firebase"] or {}))
    rows = [
        [
            name,
            str((state["mongodb"] or {}).get(name, "—") if state["mongodb"] else "missing"),
            str((state["firebase"] or {}).get(name, "—") if state["firebase"] else "missing"),
        ]
        for name in fields
    ]
    print(_table(rows, ["field", "MongoDB", "Firebase"]))


async def _list(service: AdminService, args: argparse.Namespace) -> int:
    page = await service.list_users(
        UserFilter(
            partner=args.partner, email=args.email, uid_prefix=args.uid_prefix, disabled=args.disabled
        ),
        args.cursor,
        args.limit,
    )
    rows = await service.with_verdicts(page["users"])
    if args.json:
        print(json.dumps({"users": rows, "total": page["total"], "next_cursor": page["next_cursor"]}))
        return 0
    table = [
        [
            r["mongodb"]["uid"],
            r["mongodb"]["partner"],
            r["mongodb"]["email"] or "",
            "disabled" if r["mongodb"]["disabled"] else "active",
            _verdict_text(r["verdict"]),
        ]
        for r in rows
    ]
    print(_table(table, ["uid", "partner", "email", "state", "MongoDB vs Firebase"]))
    print(
        f"\n{len(rows)} of {page['total']} users"
        + (f"; next page: --cursor {page['next_cursor']}" if page["next_cursor"] else "")
    )
    return 0


def _one(action: Callable[[AdminService, argparse.Namespace], Awaitable[dict[str, Any]]]) -> Any:
    async def run(service: AdminService, args: argparse.Namespace) -> int:
        state = await action(service, args)
        if args.json:
            print(json.dumps(state))
        elif state.get("deleted"):
            print(f"deleted {state['uid']} from MongoDB and Firebase (and its devices)")
        else:
            _print_user(state)
        return 0

    return run


async def _reconcile(service: AdminService, args: argparse.Namespace) -> int:
    terminal = sys.stderr.isatty() and not args.json
    seen = {"firebase": 0, "mongodb": 0}

    def progress(store: str, count: int) -> None:
        seen[store] = count
        if terminal:
            print(
                f"\rreading… Firebase {seen['firebase']:>8,} users   MongoDB {seen['mongodb']:>8,} users",
                end="",
                file=sys.stderr,
                flush=True,
            )

    report: ReconcileReport = await service.reconcile(fix=args.fix, actor=actor(), progress=progress)
    if terminal:
        print(file=sys.stderr)
    summary = report.as_json()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"MongoDB users: {report.mongodb_users}   Firebase users: {report.firebase_users}")
        for label, uids in (
            ("missing in Firebase", report.missing_in_firebase),
            ("missing in MongoDB", report.missing_in_mongodb),
            ("differing", [d["uid"] for d in report.differing]),
            ("pending first sign-in", report.pending_first_sign_in),
        ):
            print(f"{label + ':':<22}{len(uids):>6}  {' '.join(uids[:20])}")
        if args.fix:
            print(f"fixed: {len(report.fixed)}   not fixable: {len(report.not_fixable)}")
        print(
            "consistent"
            if summary["consistent"]
            else ("run with --fix to repair what can be repaired" if not args.fix else "see above")
        )
    return 0 if summary["consistent"] or args.fix else 1


COMMANDS: dict[str, Callable[[AdminService, argparse.Namespace], Awaitable[int]]] = {
    "list": _list,
    "show": _one(lambda s, a: s.verify(a.ref)),
    "verify": _one(lambda s, a: s.verify(a.ref)),
    "disable": _one(lambda s, a: s.set_disabled(a.ref, True, actor(), None)),
    "enable": _one(lambda s, a: s.set_disabled(a.ref, False, actor(), None)),
    "revoke": _one(lambda s, a: s.revoke_sessions(a.ref, actor(), None)),
    "delete": _one(lambda s, a: s.delete(a.ref, actor(), None)),
    "reconcile": _reconcile,
}


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with admin_service() as service:
            try:
                return await COMMANDS[args.action](service, args)
            except UserNotFound:
                print(f"no user {args.ref!r} in MongoDB or Firebase", file=sys.stderr)
                return 1
            except PartlyApplied as error:
                print(f"{error}; run `bridge admin users verify {args.ref}`", file=sys.stderr)
                return 3

    return asyncio.run(main())


def add_commands(commands: Any) -> None:
    admin = commands.add_parser("admin", help="verify and manage users (MongoDB + Firebase)")
    what = admin.add_subparsers(dest="what", required=True)
    users = what.add_parser("users", help="users").add_subparsers(dest="action", required=True)
    listing = users.add_parser("list", help="list users with their MongoDB/Firebase verdict")
    listing.add_argument("--partner")
    listing.add_argument("--email")
    listing.add_argument("--uid-prefix")
    listing.add_argument("--disabled", action=argparse.BooleanOptionalAction, default=None)
    listing.add_argument("--cursor")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=run)
    for action, text in (
        ("show", "both records and the verdict"),
        ("verify", "the same as show"),
        ("disable", "disable in both stores and revoke sessions"),
        ("enable", "enable again"),
        ("revoke", "revoke the user's sessions"),
        ("delete", "delete from both stores"),
    ):
        command = users.add_parser(action, help=text)
        command.add_argument("ref", help="uid, partner:external_id or users/{uid}")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)
    reconcile = what.add_parser("reconcile", help="compare both stores; --fix repairs what it safely can")
    reconcile.add_argument("--fix", action="store_true")
    reconcile.add_argument("--json", action="store_true")
    reconcile.set_defaults(run=run, action="reconcile")
