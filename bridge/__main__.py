"""The `bridge` command: serve, keys, partners."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiohttp import web

from bridge.partners.config import ConfigError, load_partners_file


def _serve(args: argparse.Namespace) -> int:
    from bridge.app import create_app
    from bridge.logs import configure_logging
    from bridge.settings import load_settings

    overrides = {name: value for name in ("host", "port") if (value := getattr(args, name)) is not None}
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=lambda message: print(message, file=sys.stderr),
        shutdown_timeout=15,
    )
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server (settings from BRIDGE_* env)")
    serve.add_argument("--host", help="overrides BRIDGE_HOST")
    serve.add_argument("--port", type=int, help="overrides BRIDGE_PORT")
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="key material").add_subparsers(dest="what", required=True)
    account = keys.add_parser(
        "service-account", help="generate a local service-account key (emulator and tests only)"
    )
    account.add_argument("--out", type=Path, default=Path("local/service-account.json"))
    account.add_argument("--project", default="demo-bridge", help="Firebase project id")
    account.set_defaults(run=_service_account)

    partners = commands.add_parser("partners", help="partners file").add_subparsers(
        dest="what", required=True
    )
    check = partners.add_parser("check", help="validate a partners file and load its keys")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_check_partners)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigError as error:
        print(f"bridge: configuration error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
