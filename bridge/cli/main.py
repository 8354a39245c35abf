"""The `bridge` command: serve, keys, partners, api-keys, unlock, admin."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from bridge.partners.config import PARTNER_ID_PATTERN, ConfigError, load_partners_file
from bridge.store.api_keys import SCOPES

if TYPE_CHECKING:
    from bridge.app import Stores
    from bridge.store.api_keys import ApiKeys


def _serve(args: argparse.Namespace) -> int:
    from bridge.cli.serve import serve_one, supervise
    from bridge.infra.logs import configure_logging
    from bridge.settings import load_settings

    overrides = {name: value for name in ("host", "port") if (value := getattr(args, name)) is not None}
    settings = load_settings(**overrides)  # checked here, before any worker starts
    configure_logging(settings.log_level, settings.log_format)
    if args.workers > 1:
        if settings.port == 0:
            raise ConfigError("--workers needs a fixed port (not 0)")
        return supervise(args.workers, [f"--host={settings.host}", f"--port={settings.port}"])
    asyncio.run(serve_one(settings, reuse_port=settings.reuse_port))
    return 0


def _service_account(args: argparse.Namespace) -> int:
    from bridge.firebase.service_account import write_service_account

    if args.out.exists():
        print(f"{args.out} exists; not overwritten", file=sys.stderr)
        return 1
    write_service_account(args.out, args.project)
    print(f"wrote a local service-account key for project {args.project} to {args.out}")
    return 0


def _check_partners(args: argparse.Namespace) -> int:
    from bridge.partners.keys import check_partner_keys

    partners = load_partners_file(args.file)
    check_partner_keys(partners)
    for partner_id, config in partners.items():
        print(f"{partner_id}: {config.kind} partner, ok")
    return 0


async def _with_stores(action: Callable[[Stores], Awaitable[int]]) -> int:
    """Run `action` on the MongoDB stores (the commands that need nothing else)."""
    from bridge.app import open_stores
    from bridge.settings import Settings

    stores = open_stores(Settings())
    try:
        return await action(stores)
    finally:
        await stores.client.close()


async def _with_api_keys(action: Callable[[ApiKeys], Awaitable[int]]) -> int:
    async def on_keys(stores: Stores) -> int:
        return await action(stores.api_keys)

    return await _with_stores(on_keys)


def _api_keys_create(args: argparse.Namespace) -> int:
    async def create(keys: ApiKeys) -> int:
        try:
            key, plaintext = await keys.create(args.name, set(args.scope), args.partner)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        bound = f", for partner {key.partner!r} only" if key.partner else ""
        print(
            f"created API key {key.key_id} ({key.name}) with scopes {', '.join(sorted(key.scopes))}{bound}",
            file=sys.stderr,
        )
        print("the key is shown once; store it in your secret manager:", file=sys.stderr)
        print(plaintext)
        return 0

    return asyncio.run(_with_api_keys(create))


def _api_keys_list(args: argparse.Namespace) -> int:
    from bridge.cli.admin import _table

    async def show(keys: ApiKeys) -> int:
        rows = [
            [
                key.key_id,
                key.name,
                ",".join(key.scopes),
                key.partner or "any",
                f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active",
            ]
            for key in await keys.list()
        ]
        print(_table(rows, ["key id", "name", "scopes", "partner", "state"]))
        if rows:
            print(f"\n{len(rows)} key{'' if len(rows) == 1 else 's'}")
        else:
            print("\nno keys yet: bridge api-keys create --name N --scope S")
        return 0

    return asyncio.run(_with_api_keys(show))


def _api_keys_revoke(args: argparse.Namespace) -> int:
    async def revoke(keys: ApiKeys) -> int:
        if await keys.revoke(args.key_id):
            print(f"revoked {args.key_id}")
            return 0
        print(f"no active key {args.key_id}", file=sys.stderr)
        return 1

    return asyncio.run(_with_api_keys(revoke))


def _unlock(args: argparse.Namespace) -> int:
    """Clear the failed-login counters of a username or an address at one partner."""
    from bridge.store.attempts import address_key, invalid_key, user_key

    keys = [user_key(args.partner, args.username)] if args.username is not None else []
    if args.address is not None:
        keys += [address_key(args.partner, args.address), invalid_key(args.partner, args.address)]

    async def run(stores: Stores) -> int:
        cleared = await stores.login_attempts.unlock(keys)
        print(f"cleared {cleared} counter(s)")
        return 0

    return asyncio.run(_with_stores(run))


def _partner_id(value: str) -> str:
    if not re.fullmatch(PARTNER_ID_PATTERN, value):
        raise argparse.ArgumentTypeError("partner ids are 1-32 of a-z, 0-9, '-' and '_'")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_serve(commands)
    _add_keys(commands)
    _add_partners(commands)
    _add_api_keys(commands)
    _add_unlock(commands)
    from bridge.cli.admin import add_commands

    add_commands(commands)
    return parser


# What `add_subparsers` returns: where each command adds its parser.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_serve(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the HTTP server (settings from BRIDGE_* env)")
    serve.add_argument("--host", help="overrides BRIDGE_HOST")
    serve.add_argument("--port", type=int, help="overrides BRIDGE_PORT")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (default 1)")
    serve.set_defaults(run=_serve)


def _add_keys(commands: Commands) -> None:
    keys = commands.add_parser("keys", help="key material").add_subparsers(dest="what", required=True)
    account = keys.add_parser(
        "service-account", help="generate a local service-account key (emulator and tests only)"
    )
    account.add_argument("--out", type=Path, default=Path("local/service-account.json"))
    account.add_argument("--project", default="demo-bridge", help="Firebase project id")
    account.set_defaults(run=_service_account)


def _add_partners(commands: Commands) -> None:
    partners = commands.add_parser("partners", help="partners file").add_subparsers(
        dest="what", required=True
    )
    check = partners.add_parser("check", help="validate a partners file and load its keys")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_check_partners)


def _add_api_keys(commands: Commands) -> None:
    api_keys = commands.add_parser(
        "api-keys", help="backend API keys (MongoDB from BRIDGE_MONGODB_URI)"
    ).add_subparsers(dest="what", required=True)
    create = api_keys.add_parser("create", help="create a key; prints it once")
    create.add_argument("--name", required=True, help="who uses it, e.g. 'acme-backend'")
    create.add_argument(
        "--scope", action="append", required=True, choices=sorted(SCOPES), help="repeat for several scopes"
    )
    create.add_argument(
        "--partner",
        type=_partner_id,
        help="bind the key to one partner: it then acts only on that partner's users",
    )
    create.set_defaults(run=_api_keys_create)
    api_keys.add_parser("list", help="list keys (never their secrets)").set_defaults(run=_api_keys_list)
    revoke = api_keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_api_keys_revoke)


def _add_unlock(commands: Commands) -> None:
    unlock = commands.add_parser(
        "unlock", help="let a locked-out username or address log in again at once (MongoDB from env)"
    )
    unlock.add_argument("--partner", type=_partner_id, required=True)
    who = unlock.add_mutually_exclusive_group(required=True)
    who.add_argument("--username", help="as the user types it (counted stripped, NFKC, case-folded)")
    who.add_argument("--address", help="a client address (as bridge sees it: see BRIDGE_TRUSTED_PROXIES)")
    unlock.set_defaults(run=_unlock)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # `serve` reads only an explicitly named file: a server never picks up a stray local one.
        if args.command != "serve" or os.environ.get("BRIDGE_ENV_FILE"):
            load_env_file()
        code: int = args.run(args)
    except ConfigError as error:
        print(f"bridge: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line saying what to set, never a traceback
        print(f"bridge: {cli_error_message(error)}", file=sys.stderr)
        return 1
    return code


DEFAULT_ENV_FILE = Path("local/bridge.env")
_loaded_env_file: Path | None = None
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def load_env_file() -> Path | None:
    """Variables from BRIDGE_ENV_FILE, or from ./local/bridge.env (written by scripts/run) when it
    exists. `NAME=value` lines (shell quoting, `#` comments); variables already set win."""
    named = os.environ.get("BRIDGE_ENV_FILE")
    path = Path(named) if named else DEFAULT_ENV_FILE
    if not path.is_file():
        if named:
            problem = "is not a regular file" if path.exists() else "does not exist"
            raise ConfigError(f"BRIDGE_ENV_FILE={named} {problem}")
        return None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        try:
            values = shlex.split(match.group(2)) if match else []
        except ValueError:
            values = []
        if match is None or len(values) > 1:
            raise ConfigError(f"{path}, line {number}: expected NAME=value")
        os.environ.setdefault(match.group(1), values[0] if values else "")
    global _loaded_env_file
    _loaded_env_file = path
    return path


def _without_credentials(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//", uri)


def cli_error_message(error: Exception) -> str:
    """What went wrong and what to set, in one line (no secret: URIs lose their credentials)."""
    from pydantic import ValidationError
    from pymongo.errors import PyMongoError

    from bridge.firebase.auth_admin import AuthUnavailable

    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"BRIDGE_{'_'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
        return f"configuration error: {problems}"
    if isinstance(error, PyMongoError):
        uri = _without_credentials(os.environ.get("BRIDGE_MONGODB_URI", "mongodb://127.0.0.1:27017"))
        hint = (
            f"read from {_loaded_env_file} — is scripts/run still running?"
            if _loaded_env_file is not None
            else f"scripts/run writes it to {DEFAULT_ENV_FILE} while it runs"
        )
        return f"MongoDB at {uri} did not answer ({type(error).__name__}); set BRIDGE_MONGODB_URI ({hint})"
    google = type(error).__module__.startswith(("google.", "firebase_admin", "requests", "urllib3"))
    if isinstance(error, AuthUnavailable) or google:
        emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
        where = (
            f"the Auth emulator at {emulator}"
            if emulator
            else "Google (FIREBASE_AUTH_EMULATOR_HOST is not set)"
        )
        return (
            f"Firebase Auth at {where} is not reachable ({type(error).__name__}); set "
            "FIREBASE_AUTH_EMULATOR_HOST=host:port for the emulator (scripts/run writes it to "
            f"{DEFAULT_ENV_FILE}), or BRIDGE_SERVICE_ACCOUNT_FILE to a real service-account key"
        )
    first_line = (str(error).splitlines() or [""])[0][:200]
    return f"failed: {type(error).__name__}: {first_line}"


if __name__ == "__main__":
    sys.exit(main())
