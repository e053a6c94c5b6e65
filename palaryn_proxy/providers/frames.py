"""The one frame type every incremental stream framer yields, and the framer protocol."""

from __future__ import annotations

from typing import NamedTuple, Protocol

# Bound on one buffered event / line / object / binary frame; bigger ones are dropped with a problem.
MAX_FRAME_BYTES = 1 << 20


class Frame(NamedTuple):
    """One complete unit of a stream: an SSE event, an NDJSON line, a JSON-array element, an AWS message.

    `name` is the SSE `event:` field or the AWS `:event-type` / `:exception-type` header; `data` is the
    payload (SSE data lines joined by newlines); `error` is True for AWS exception messages.
    """

    name: str | None
    data: bytes
    error: bool = False


class Framer(Protocol):
    """Splits a byte stream cut at arbitrary points into frames, in O(chunk) per call, never raising."""

    problem: str | None

    def feed(self, chunk: bytes) -> list[Frame]: ...

    def close(self) -> list[Frame]: ...

    @property
    def at_boundary(self) -> bool:
        """True when everything fed so far ended exactly on a frame boundary."""
        ...
