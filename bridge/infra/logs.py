"""Log set-up: JSON lines by default, a readable line for terminals."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


def fingerprint(credential: str) -> str:
    """What a log line may say about a credential: the first 8 hex digits of its SHA-256 (enough to
    tell two presented values apart, too short to be looked up or replayed). Never the value or a
    part of it."""
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()[:8]


# A second line of defence: whatever a log line holds (a message, an extra, an exception's text),
# credential-shaped strings are masked before the line is written: JWTs (partner tokens, ID tokens,
# session cookies, custom tokens) and bridge API keys. Code never logs credentials in the first
# place (tests/test_secrets_in_logs.py); this catches what a future exception text might carry.
_CREDENTIAL_SHAPES = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*|brk_[0-9a-f]{12}_[A-Za-z0-9_-]{8,}"
)
REDACTED = "[redacted]"


def redact(line: str) -> str:
    return _CREDENTIAL_SHAPES.sub(REDACTED, line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self.unmasked(record))

    def unmasked(self, record: logging.LogRecord) -> str:
        """The line before credential shapes are masked (tests check that code logs none)."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and not name.startswith("_") and value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Fields the text format leaves out because the message already says them (the access line
# reads `POST /v1/login 401`), or shows elsewhere (the request id, in brackets).
_TEXT_SHOWN_ELSEWHERE = frozenset({"request_id", "request", "fields", "method", "path", "status"})


def _text_value(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """One readable line: time, level, logger, message, then every structured field as key=value
    (`login rejected partner=demo reason=expired`; the access line ends with `duration_ms=3.1`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s%(fields)s%(request)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request = f" [{request_id}]" if request_id else ""
        record.fields = "".join(
            f" {name}={_text_value(value)}"
            for name, value in vars(record).items()
            if name not in _STANDARD_ATTRIBUTES
            and name not in _TEXT_SHOWN_ELSEWHERE
            and not name.startswith("_")
            and value is not None
        )
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: Literal["json", "text"] = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
