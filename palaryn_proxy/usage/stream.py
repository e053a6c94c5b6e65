"""Response streams: the tap that forwards every chunk while a provider parser reads it, and the guards that
later stages (policy, budget) add to end a stream early on an event boundary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from palaryn_proxy.providers.base import StreamParser
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.types import FlowState, StreamPlan


@dataclass(frozen=True, slots=True)
class Cut:
    """Why a stream is ended early. `before_chunk`: drop the chunk that tripped the guard, if possible."""

    message: str
    code: str
    before_chunk: bool = False


Guard = Callable[[StreamParser], Cut | None]


def add_stream_guard(state: FlowState, guard: Guard) -> None:
    """Let a stage end this flow's response stream early (judged per event, see StreamTap)."""
    plan = state.stream
    if plan is None:
        plan = state.stream = StreamPlan()
    plan.guards.append(guard)


_EVENT_END = {"sse": (b"\n\n", b"\r\n\r\n"), "ndjson": (b"\n",)}


def last_event_end(data: bytes, shape: str) -> int:
    """Offset just past the last complete event in `data` (0 if none) for line-framed shapes."""
    return max((i + len(sep) for sep in _EVENT_END[shape] if (i := data.rfind(sep)) >= 0), default=0)


def split_events(data: bytes, shape: str) -> list[bytes]:
    """Complete events of `data`, each with its terminator (the caller keeps the incomplete rest)."""
    events, start = [], 0
    primary = _EVENT_END[shape][0]
    while (i := data.find(primary, start)) >= 0:
        events.append(data[start : i + len(primary)])
        start = i + len(primary)
    return events


def one_chunk(pieces: list[bytes]) -> bytes | list[bytes]:
    """Pieces joined for one write; [] when there is nothing: mitmproxy would send an empty chunk, which
    chunked HTTP/1 encodes as the end of the body."""
    joined = b"".join(pieces)
    return joined if joined else []


class StreamTap:
    """mitmproxy's stream callable: forwards every chunk while a parser reads the decoded bytes.

    Without guards, chunks pass through untouched as they arrive. When a stage may end the stream early
    (`add_stream_guard`), an identity-encoded SSE or NDJSON stream is forwarded event by event: bytes of an
    incomplete event wait until it completes, and the guards judge each event before it is sent. A tripped
    guard therefore cuts cleanly: the client's bytes end on an event boundary, the event that tripped it (a
    denied tool call) can be withheld, and an error event in the provider's stream format ends the stream.
    Other shapes (compressed, binary eventstream, JSON arrays) are judged per network chunk.
    """

    def __init__(
        self,
        state: FlowState,
        parser: StreamParser | None,
        decoder: ContentDecoder | None,
        splittable: bool = False,
    ):
        self.state, self.parser, self.decoder = state, parser, decoder
        self.splittable = splittable and parser is not None and parser.shape in _EVENT_END
        self.first_token_at: float | None = None
        self.cut: Cut | None = None
        self.dropping = False
        self.pending = b""

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if not chunk:
            return self._end()
        self.state.response_bytes += len(chunk)
        if self.parser is None:
            return chunk
        plan = self.state.stream
        guards = plan.guards if plan is not None else None  # stages may add guards late
        if self.dropping:
            self._feed(chunk)  # keep counting what the upstream bills
            return []
        if not guards:
            if self.pending:  # guards went away (cannot happen today): release what was waiting
                chunk, self.pending = self.pending + chunk, b""
            self._feed(chunk)
            return chunk
        if not self.splittable:
            self._feed(chunk)
            return self._judge(guards, [chunk])
        data = self.pending + chunk
        end = last_event_end(data, self.parser.shape)
        self.pending = data[end:]
        return self._judge(guards, split_events(data[:end], self.parser.shape), feed=True)

    def _judge(self, guards: list[Guard], pieces: list[bytes], feed: bool = False) -> bytes | list[bytes]:
        """The pieces the guards let through, as one chunk (one write to the client, not one per event)."""
        assert self.parser is not None
        out: list[bytes] = []
        for piece in pieces:
            if feed:
                self._feed(piece)
            self.cut = next((c for c in (g(self.parser) for g in guards) if c is not None), None)
            if self.cut is not None:
                self.dropping = True
                if not self.cut.before_chunk and (self.splittable or self.parser.at_boundary):
                    out.append(piece)
                break
            out.append(piece)
        return one_chunk(out)

    def _end(self) -> bytes | list[bytes]:
        tail, self.pending = self.pending, b""
        if tail:
            self._feed(tail)
        if self.cut is not None and self.parser is not None:
            return [self.parser.error_event(self.cut.message, self.cut.code)]
        return [tail] if tail and not self.dropping else b""

    def _feed(self, chunk: bytes) -> None:
        assert self.parser is not None
        data = self.decoder.decode(chunk) if self.decoder is not None else chunk
        if data:
            self.parser.feed(data)
        if self.first_token_at is None and self.parser.first_token_seen:
            self.first_token_at = time.monotonic()
