"""End a response stream at the next event boundary once its scope is killed (SSE and NDJSON framing)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from palaryn_proxy.refusals import stream_error_event

_BOUNDARY = {"sse": re.compile(rb"\r\n\r\n|\n\n|\r\r"), "ndjson": re.compile(rb"\n")}
MAX_HOLD = (
    1 << 20
)  # bytes of one unfinished event held back; past this, they pass (a kill then cuts mid-event)
Inner = Callable[[bytes], bytes | Iterable[bytes]]


class KillCut:
    """mitmproxy's stream callable (wrapping the one installed before it): whole events pass while `killed()`
    answers None; then an error event ends what the client gets and `on_cut` runs once."""

    def __init__(
        self, inner: Inner | None, shape: str, killed: Callable[[], str | None], on_cut: Callable[[str], None]
    ) -> None:
        self.inner, self.killed, self.on_cut = inner, killed, on_cut
        self._boundary = _BOUNDARY[shape]
        self._buf = b""
        self.cut: str | None = None

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        end = not chunk
        out = [self._feed(p) for p in self._inner(chunk)]
        if end and self.cut is None:
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
        if self.cut is not None:
            return b""
        self._buf += data
        last = None
        for m in self._boundary.finditer(self._buf):
            last = m.end()
        if last is None:
            if len(self._buf) <= MAX_HOLD:
                return b""
            last = len(self._buf)
        ready, self._buf = self._buf[:last], self._buf[last:]
        why = self.killed()
        if why is None:
            return ready
        self.cut, self._buf = why, b""
        self.on_cut(why)
        return stream_error_event(why, "killed")
