"""A local FCM sink for development: speaks the FCM HTTP v1 send API (and an OAuth token endpoint)
and prints what a phone would receive. Started by scripts/dev.py; never used in production.

    .venv/bin/python scripts/fcm_sink.py --port 9097
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from aiohttp import web

_ids = itertools.count(1)
QUIET = False


async def token(request: web.Request) -> web.Response:
    return web.json_response({"access_token": "local-sink-token", "expires_in": 3600, "token_type": "Bearer"})


async def send(request: web.Request) -> web.Response:
    body = await request.json()
    message = body.get("message", {})
    registration_token = str(message.get("token", ""))
    shown = {k: v for k, v in message.items() if k != "token"}
    dry = " (dry run)" if body.get("validate_only") else ""
    if not QUIET:
        print(
            f"push to device …{registration_token[-8:]}{dry}: {json.dumps(shown, ensure_ascii=False)}",
            flush=True,
        )
    return web.json_response({"name": f"projects/{request.match_info['project']}/messages/{next(_ids)}"})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=9097)
    parser.add_argument("--quiet", action="store_true", help="print nothing per message (benchmarks)")
    args = parser.parse_args()
    global QUIET
    QUIET = args.quiet
    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/v1/projects/{project}/messages:send", send)
    web.run_app(
        app, host="127.0.0.1", port=args.port, print=lambda m: print(m, file=sys.stderr), access_log=None
    )


if __name__ == "__main__":
    main()
