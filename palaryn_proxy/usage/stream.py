"""Response streams: one pipeline per stream (StreamTap) that decodes each chunk once for the usage parser and
the DLP scanner, and the guards later stages (policy, budget) add to end a stream early on an event boundary."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from palaryn_proxy.providers.base import StreamParser
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.refusals import stream_error_event
from palaryn_proxy.types import Decision, FlowState, Reason, StreamPlan

if TYPE_CHECKING:
    from palaryn_proxy.dlp import StreamScanner


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
_EVENT_SPLIT = {
    shape: re.compile(b"|".join(map(re.escape, seps[::-1]))) for shape, seps in _EVENT_END.items()
}


def last_event_end(data: bytes, shape: str) -> int:
    """Offset just past the last complete event in `data` (0 if none) for line-framed shapes."""
    return max((i + len(sep) for sep in _EVENT_END[shape] if (i := data.rfind(sep)) >= 0), default=0)


def split_events(data: bytes, shape: str) -> list[bytes]:
    """Complete events of `data`, each with its terminator (the caller keeps the incomplete rest)."""
    events, start = [], 0
    for m in _EVENT_SPLIT[shape].finditer(data):
        events.append(data[start : m.end()])
        start = m.end()
    return events


class StreamTap:
    """mitmproxy's stream callable: each upstream chunk is decoded once (`decoder`, None for identity), read
    by the usage parser and, when the DLP stage registered one (`StreamPlan.scanner`), scanned; the client
    gets the scanner's decoded, redacted bytes, or without a scanner the upstream bytes untouched. Every
    upstream chunk leaves as at most one write, never an empty one before the end.

    When a stage may end the stream early (`add_stream_guard`), an identity-encoded SSE or NDJSON stream is
    forwarded event by event: bytes of an incomplete event wait until it completes, and the guards judge each
    event before it is sent. A tripped guard therefore cuts cleanly: the client's bytes end on an event
    boundary, the event that tripped it (a denied tool call) can be withheld, and an error event in the
    provider's stream format ends the stream. Other shapes (compressed, binary eventstream, JSON arrays)
    are judged per network chunk. A scanner that blocks ends the stream with an error event as well.
    """

    def __init__(
        self,
        state: FlowState,
        parser: StreamParser | None,
        decoder: ContentDecoder | None,
        splittable: bool = False,
    ):
        self.state, self.parser, self.decoder = state, parser, decoder
        self.splittable = splittable and decoder is None and parser is not None and parser.shape in _EVENT_END
        self.first_token_at: float | None = None
        self.cut: Cut | None = None
        self.dropping = False
        self.pending = b""

    @property
    def undecodable(self) -> str | None:
        """Why this stream's Content-Encoding cannot be decoded (then it cannot be scanned), or None."""
        return self.decoder.unsupported if self.decoder is not None else None

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if not chunk:
            return self._end()
        self.state.response_bytes += len(chunk)
        plan = self.state.stream
        scanner = plan.scanner if plan is not None else None
        if self.parser is None:
            return chunk if scanner is None else self._scan(scanner, self._decode(chunk, scanner))
        guards = plan.guards if plan is not None else None  # stages may add guards late
        if self.dropping:
            self._feed(self._decode(chunk, None))  # keep counting what the upstream bills
            return []
        if self.splittable and guards:
            data = self.pending + chunk if self.pending else chunk
            end = last_event_end(data, self.parser.shape)
            self.pending = data[end:]
            passed = self._judge_events(guards, data, end)
            out = data if passed == len(data) else data[:passed]
        else:
            if self.pending:  # guards went away (cannot happen today): release what was waiting
                chunk, self.pending = self.pending + chunk, b""
            data = self._decode(chunk, scanner)
            self._feed(data)
            cut = self._trip(guards) if guards else None
            if cut is not None and (cut.before_chunk or not self.parser.at_boundary):
                return []  # the chunk that tripped it is withheld, or it may end inside an event
            out = chunk if scanner is None else data
        if scanner is not None:
            return self._scan(scanner, out)
        return out if out else []

    def _judge_events(self, guards: list[Guard], data: bytes, end: int) -> int:
        """Feed data[:end] (whole events) to the parser event by event, the guards judging each; how many
        bytes of `data` pass. On a cut, the parser still reads the rest (the upstream bills it)."""
        assert self.parser is not None
        start = 0
        while start < end:
            m = _EVENT_SPLIT[self.parser.shape].search(data, start, end)
            stop = m.end() if m is not None else end
            self._feed(data[start:stop])
            cut = self._trip(guards)
            if cut is not None:
                self._feed(data[stop:])
                self.pending = b""
                return start if cut.before_chunk else stop
            start = stop
        return end

    def _trip(self, guards: list[Guard]) -> Cut | None:
        """The first guard's cut, if any; from then on the stream is dropped (the parser still reads it)."""
        assert self.parser is not None
        self.cut = next((c for c in (g(self.parser) for g in guards) if c is not None), None)
        self.dropping = self.cut is not None
        return self.cut

    def _scan(self, scanner: StreamScanner, data: bytes) -> bytes | list[bytes]:
        out = scanner.feed(data) if data else b""  # nothing once the scanner blocked
        return out if out else []

    def _end(self) -> bytes | list[bytes]:
        tail, self.pending = self.pending, b""
        if tail:
            self._feed(tail)
        plan = self.state.stream
        scanner = plan.scanner if plan is not None else None
        out: list[bytes] = []
        if scanner is not None:
            self._decode(b"", scanner)  # end of the body: a lenient decoder notes data that ends early
            if tail and not self.dropping:
                out.append(scanner.feed(tail))
            out.append(scanner.finish())
        elif tail and not self.dropping:
            out.append(tail)
        if self.cut is not None and self.parser is not None:
            out.append(self.parser.error_event(self.cut.message, self.cut.code))
        if scanner is not None and scanner.blocked:
            message, code = "a secret in the response was blocked", "dlp_blocked"
            out.append(
                self.parser.error_event(message, code) if self.parser else stream_error_event(message, code)
            )
            self.state.note(Reason("dlp", "stream_blocked", message), Decision.DENY)
        return [p for p in out if p] or b""

    def _decode(self, chunk: bytes, scanner: StreamScanner | None) -> bytes:
        """The chunk decoded (b"": the end of the body). While a scanner reads the stream, what the decoder
        meets is noted for the DLP stage, each the first time: past the cap the scanned stream ends there
        (its encoding is already dropped from the headers, so the rest cannot be passed on as sent)."""
        d = self.decoder
        if d is None:
            return chunk
        if scanner is None:
            return d.decode(chunk)
        failed, oversize, damage = d.failed, d.oversize, d.damage
        if chunk:
            data = d.decode(chunk)
        else:
            data = b""
            d.finish()
        if d.failed and not failed:
            self._note("undecodable_stream", "stream content could not be decoded for scanning")
        elif d.oversize and not oversize:
            self._note(
                "decoded_oversize", "response stream decodes to more than max_decoded_bytes: it ends there"
            )
        elif d.damage and not damage:
            self._note("decoded_leniently", f"response stream: {d.damage}")
        return data

    def _note(self, rule: str, message: str) -> None:
        self.state.note(Reason("dlp", rule, message))

    def _feed(self, data: bytes) -> None:
        assert self.parser is not None
        if data:
            self.parser.feed(data)
        if self.first_token_at is None and self.parser.first_token_seen:
            self.first_token_at = time.monotonic()
