"""Proxy logging on stderr, as text or one JSON object per line, with credentials masked in every message."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

MAX_MESSAGE = 4000  # log lines never carry bodies; a long message is cut, not dumped
HEADER_KEYS = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
)
_SECRET_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{12,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{30,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*)"
)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+):[^/\s@]+@", re.IGNORECASE)
_SCHEME_TOKEN = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)


class Redactor:
    """Masks credentials in free text: URL userinfo, auth headers, sensitive query values, known key shapes."""

    def __init__(self, query_keys: Iterable[str] = ()):
        headers = "|".join(re.escape(h) for h in HEADER_KEYS)
        self._headers = re.compile(rf"\b({headers})(\"?\s*[:=]\s*\"?)[^\s\",;]+", re.IGNORECASE)
        keys = "|".join(re.escape(k) for k in sorted(set(query_keys), key=len, reverse=True))
        self._query = re.compile(rf"([?&](?:{keys})=)[^&\s\"']*", re.IGNORECASE) if keys else None

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub(r"\1:***@", text)
        text = _SCHEME_TOKEN.sub(r"\1 ***", text)
        text = self._headers.sub(r"\1\2***", text)
        if self._query is not None:
            text = self._query.sub(r"\1***", text)
        text = _SECRET_SHAPES.sub("***", text)
        return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "...(cut)"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (and exc, the exception's type and message)."""

    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            out["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def configure(level: str, fmt: str = "text", query_keys: Iterable[str] = ()) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones); mitmproxy's logs go there too."""
    redact = Redactor(query_keys)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    mitm_level = max(logging.WARNING, logging.getLevelName(level.upper()))
    logging.getLogger("mitmproxy").setLevel(mitm_level)
