"""Rewrite JSON-RPC messages inside an SSE response as they pass, one event at a time (never the whole stream)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
MAX_EVENT = 8 << 20  # an event larger than this passes through unread (and the rest of the stream with it)
Inner = Callable[[bytes], bytes | Iterable[bytes]]


def rewrite_event(event: bytes, rewrite: Callable[[Any], Any]) -> bytes:
    """One complete event (with its terminator): its `data:` JSON rewritten, or the bytes unchanged."""
    lines = event.splitlines()
    data = [ln[5:].removeprefix(b" ") for ln in lines if ln.startswith(b"data:")]
    if not data:
        return event
    try:
        message = json.loads(b"\n".join(data))
    except ValueError:
        return event
    new = rewrite(message)
    if new is message:
        return event
    kept = [ln for ln in lines if ln and not ln.startswith(b"data:")]
    body = json.dumps(new, separators=(",", ":")).encode()
    return b"\n".join([*kept, b"data: " + body]) + b"\n\n"


class SseRewriter:
    """mitmproxy's stream callable (wrapping the one installed before it): complete events leave rewritten,
    the bytes of an incomplete event wait for its end."""

    def __init__(self, inner: Inner | None, rewrite: Callable[[Any], Any]) -> None:
        self.inner, self.rewrite = inner, rewrite
        self._buf = b""
        self._gave_up = False

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        end = not chunk
        out = []
        for part in self._inner(chunk):
            out.append(self._feed(part))
        if end:
            out.append(self._buf)
            self._buf = b""
        kept = [p for p in out if p]
        return kept if kept or not end else b""

    def _inner(self, chunk: bytes) -> list[bytes]:
        if self.inner is None:
            return [chunk] if chunk else []
        got = self.inner(chunk)
        return [got] if isinstance(got, bytes) else list(got)

    def _feed(self, data: bytes) -> bytes:
        if self._gave_up:
            return data
        self._buf += data
        out, start = [], 0
        for m in _BOUNDARY.finditer(self._buf):
            out.append(rewrite_event(self._buf[start : m.end()], self.rewrite))
            start = m.end()
        self._buf = self._buf[start:]
        if len(self._buf) > MAX_EVENT:
            self._gave_up = True
            out.append(self._buf)
            self._buf = b""
        return b"".join(out)
