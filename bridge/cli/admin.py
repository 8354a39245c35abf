"""`bridge admin …`: the admin commands, on the same service as the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bridge.app import components_for_cli
from bridge.infra.json_value import JsonObject
from bridge.services.admin import AdminService, Deleted, PartlyApplied, UserFilter, UserNotFound, UserState
from bridge.services.reconcile import Progress, ReconcileReport
from bridge.services.verdict import mongodb_view
from bridge.settings import load_settings

if TYPE_CHECKING:
    from bridge.cli.main import Commands

Command = Callable[[AdminService, argparse.Namespace], Awaitable[int]]


@asynccontextmanager
async def admin_service() -> AsyncIterator[AdminService]:
    """The admin service wired from BRIDGE_* settings and the partners file, as `bridge serve` is."""
    async with components_for_cli(load_settings()) as components:
        yield components.admin


def actor() -> str:
    return f"cli:{getpass.getuser()}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(view: JsonObject | None, name: str) -> str:
    return str(view.get(name, "—")) if view else "missing"


def _print_user(state: UserState) -> None:
    print(f"uid {state.uid}  ({state.devices} device(s))")
    print(f"verdict: {state.verdict.text}")
    mongodb = mongodb_view(state.user)
    firebase = state.firebase.as_json() if state.firebase is not None else None
    fields = sorted(set(mongodb or {}) | set(firebase or {}))
    rows = [[name, _cell(mongodb, name), _cell(firebase, name)] for name in fields]
    print(_table(rows, ["field", "MongoDB", "Firebase"]))


async def _list(service: AdminService, args: argparse.Namespace) -> int:
    page = await service.list_users(
        UserFilter(
            partner=args.partner, email=args.email, uid_prefix=args.uid_prefix, disabled=args.disabled
        ),
        args.cursor,
        args.limit,
    )
    rows = await service.with_verdicts(page.users)
    if args.json:
        users = [row.as_json() for row in rows]
        print(json.dumps({"users": users, "total": page.total, "next_cursor": page.next_cursor}))
        return 0
    table = [
        [
            row.user.uid,
            row.user.partner,
            row.user.email or "",
            "disabled" if row.user.disabled else "active",
            row.verdict.text,
        ]
        for row in rows
    ]
    print(_table(table, ["uid", "partner", "email", "state", "MongoDB vs Firebase"]))
    print(
        f"\n{len(rows)} of {page.total} users"
        + (f"; next page: --cursor {page.next_cursor}" if page.next_cursor else "")
    )
    return 0


def _one(action: Callable[[AdminService, argparse.Namespace], Awaitable[UserState | Deleted]]) -> Command:
    async def run(service: AdminService, args: argparse.Namespace) -> int:
        state = await action(service, args)
        if args.json:
            print(json.dumps(state.as_json()))
        elif isinstance(state, Deleted):
            print(f"deleted {state.uid} from MongoDB and Firebase (and its devices)")
        else:
            _print_user(state)
        return 0

    return run


async def _reconcile(service: AdminService, args: argparse.Namespace) -> int:
    terminal = sys.stderr.isatty() and not args.json
    report = await service.reconcile(fix=args.fix, actor=actor(), progress=_progress_line(terminal))
    if terminal:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        _print_report(report, args.fix)
    return 0 if report.consistent or args.fix else 1


def _progress_line(terminal: bool) -> Progress:
    """Reconcile's progress, on one line of a terminal (nothing elsewhere)."""
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

    return progress


def _print_report(report: ReconcileReport, fixed: bool) -> None:
    print(f"MongoDB users: {report.mongodb_users}   Firebase users: {report.firebase_users}")
    for label, uids in (
        ("missing in Firebase", report.missing_in_firebase),
        ("missing in MongoDB", report.missing_in_mongodb),
        ("differing", [drift.uid for drift in report.differing]),
        ("pending first sign-in", report.pending_first_sign_in),
    ):
        print(f"{label + ':':<22}{len(uids):>6}  {' '.join(uids[:20])}")
    if fixed:
        print(f"fixed: {len(report.fixed)}   not fixable: {len(report.not_fixable)}")
    if report.consistent:
        print("consistent")
    else:
        print("see above" if fixed else "run with --fix to repair what can be repaired")


COMMANDS: dict[str, Command] = {
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


def add_commands(commands: Commands) -> None:
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
