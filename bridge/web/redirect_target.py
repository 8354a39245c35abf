"""Is a redirect login's `redirect` inside a partner's allow-list? Compared the way a browser
resolves it, so that nothing a browser would turn into another path slips through.

Refused outright, whatever the allow-list says:
- anything but printable ASCII (control characters, CR/LF/NUL, spaces, non-ASCII: send IDN hosts
  as punycode and other characters percent-encoded);
- backslashes (browsers read them as `/` in http(s) URLs), raw or percent-encoded;
- encoded slashes (`%2F`), which a server may decode into a path separator;
- dot segments (`.`, `..`, also with `;parameters`), raw or percent-encoded (`%2e%2e`, `.%2E`...);
- user-info (`user:pass@host`), a missing host, a scheme other than http(s), a bad port.

What is left is compared with each allowed URL: the same scheme, host and effective port, and a
path (percent-decoded, dot segments removed per RFC 3986 §5.2.4) equal to the allowed path or
under it (segment by segment: `/auth/` allows `/auth/x`, never `/authority`).
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, as browsers apply it to a path."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./") or path.startswith("/./"):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end < 0 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def _resolved_path(url: SplitResult) -> str:
    """The path a browser requests: percent-decoded, dot segments removed, never empty."""
    return remove_dot_segments(unquote(url.path)) or "/"


def _effective_port(url: SplitResult) -> int | None:
    return url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)


def refusal_reason(target: str) -> str | None:
    """Why `target` is refused whatever the allow-list says, or None when it is well-formed."""
    if not _PRINTABLE_ASCII.fullmatch(target):
        return "control, space or non-ASCII character"
    if "\\" in target or _ENCODED_SEPARATOR.search(target.split("?", 1)[0].split("#", 1)[0]):
        return "backslash or encoded slash"
    try:
        url = urlsplit(target)
        url.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "unparsable URL"
    if url.scheme not in _DEFAULT_PORTS or not url.hostname:
        return "not an absolute http(s) URL"
    if "@" in url.netloc:
        return "user-info"
    decoded = unquote(url.path)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        return "encoded control character"
    # `..;x` counts as `..`: some servers (Tomcat, Spring) drop a segment's `;parameters`.
    if "\\" in decoded or any(segment.split(";", 1)[0] in (".", "..") for segment in decoded.split("/")):
        return "dot segment or backslash in the path"
    return None


def redirect_allowed(target: str, allowed: list[str]) -> bool:
    """Same scheme, host and effective port as an allowed URL, and a browser-resolved path equal
    to or under its path. Anything `refusal_reason` names is refused first."""
    if refusal_reason(target) is not None:
        return False
    url = urlsplit(target)
    path = _resolved_path(url)
    for entry in allowed:
        base = urlsplit(entry)
        try:
            same_origin = (url.scheme, url.hostname, _effective_port(url)) == (
                base.scheme,
                base.hostname,
                _effective_port(base),
            )
        except ValueError:
            continue
        if not same_origin:
            continue
        base_path = _resolved_path(base)
        prefix = base_path if base_path.endswith("/") else base_path + "/"
        if path == base_path or path.startswith(prefix):
            return True
    return False
