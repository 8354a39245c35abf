"""Mint a JWT for the local demo partner, the way a partner backend would sign one for its user.

.venv/bin/python scripts/demo_token.py --sub alice --email alice@example.com --role editor
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parent.parent
DEMO_SECRET_FILE = ROOT / "local" / "demo-partner.secret"
DEMO_ISSUER = "https://demo-partner.local"
DEMO_AUDIENCE = "bridge"


def demo_token(sub: str, email: str | None, name: str | None, role: str | None, lifetime: int) -> str:
    secret = DEMO_SECRET_FILE.read_text().strip()
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": DEMO_ISSUER,
        "aud": DEMO_AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + lifetime,
    }
    claims.update({k: v for k, v in {"email": email, "name": name, "role": role}.items() if v})
    return jwt.encode(claims, secret, algorithm="HS256")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sub", default="alice", help="the partner's user id")
    parser.add_argument("--email")
    parser.add_argument("--name")
    parser.add_argument("--role", help="mapped to the `role` developer claim")
    parser.add_argument("--lifetime", type=int, default=300, help="seconds until exp")
    args = parser.parse_args()
    if not DEMO_SECRET_FILE.exists():
        parser.exit(1, f"{DEMO_SECRET_FILE} is missing: start the stack once with scripts/run\n")
    print(demo_token(args.sub, args.email, args.name, args.role, args.lifetime))


if __name__ == "__main__":
    main()
