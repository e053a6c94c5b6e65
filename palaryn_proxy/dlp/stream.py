"""Incremental scanning of streamed bodies, holding back a window so a secret split across chunks is found."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import TYPE_CHECKING

from .jsonscan import STRING_RE, json_segments, parse_ok, unescape
from .layers import expand
from .model import BLOCK, REDACT, Finding
from .normalize import decode_utf8, fold
from .offsets import OffsetMap, to_source
from .redact import apply_bytes, marker
from .segment import Segment
from .sources import body_segments
from .wide import Wide
from .wide import detect as detect_wide

if TYPE_CHECKING:
    from .engine import Hit
    from .scanner import DlpScanner

_CONTEXT = 128  # already-released characters kept as lookbehind context (never re-emitted)
_CLEAN_MEMO = 256  # per stream: event texts (deltas cut out) known to hold no secret keyword
CONTENT_KEYS = frozenset({"content", "text", "delta", "partial_json", "arguments", "thinking", "reasoning",
                          "reasoning_content", "refusal", "output_text", "response"})  # fmt: skip
_SSE_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


_Payload = tuple[int, str, bool, tuple[OffsetMap, ...]]  # start in event text, text, is JSON, maps


@dataclass(slots=True)
class _Piece:
    text: str
    maps: tuple[OffsetMap, ...]  # piece text -> event bytes
    start: int = 0  # position in the content window


@dataclass(slots=True)
class _Event:
    raw: bytes
    offset: int  # absolute position of raw in the stream
    payloads: list[_Payload]
    pieces: list[_Piece]
    rests: list[str]  # per payload: its text without the text deltas (what the other fields hold)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # redactions in raw


class StreamScanner:
    """feed(chunk) -> bytes to forward now (possibly b"": data held back); finish() -> the rest.

    Raw mode (any content type) rescans the held-back tail plus each new chunk and releases all but the
    last `overlap` bytes (more while a match straddles the cut, up to `max_hold`). Event mode (SSE,
    NDJSON) releases whole events: the text deltas of the events (`content`, `text`, `delta`,
    `arguments`, ...) are scanned as one continuous text, so a secret streamed token by token across
    many events is found; it is redacted inside each event's JSON string, the first piece becoming
    `[REDACTED:<type>]` and the rest empty, so every event stays valid JSON. Other JSON fields of an
    event are scanned per event.

    `findings` grows as data is released. A finding whose action is `block` is redacted and sets `blocked`;
    nothing after the batch that held it is released: the caller should end the stream (an error event).

    A UTF-16 or UTF-32 stream (a BOM, a charset, NUL bytes: wide.detect on its first bytes) is scanned in
    raw mode, decoded in whole code units, and redacted with markers in its own encoding. Every text the
    stream scanner looks at is read by the decoding layers too (layers.py).
    """

    def __init__(
        self, scanner: DlpScanner, direction: str, content_type: str, host: str, overlap: int
    ) -> None:
        self._scanner = scanner
        self.direction = direction
        self.host = host
        self.overlap = overlap
        self.max_hold = max(64 * overlap, 1 << 16)
        ct = content_type.lower()
        self.mode = (
            "sse" if "event-stream" in ct else "ndjson" if ("ndjson" in ct or "jsonl" in ct) else "raw"
        )
        self.findings: list[Finding] = []
        self.blocked = False
        self._buf = bytearray()
        self._offset = 0  # absolute stream position of _buf[0]
        self._searched = 0  # event mode: _buf[:_searched] holds no whole event boundary
        self._ctx = b""  # raw mode lookbehind
        self._events: list[_Event] = []
        self._ctx_text = ""  # event mode lookbehind
        self._clean: set[str] = set()  # an event's fields usually repeat: id, model, object, index
        self._ct = ct
        self._wide: Wide | None = None
        self._sniffed = False  # the first bytes were looked at for a UTF-16 / UTF-32 encoding

    def feed(self, chunk: bytes) -> bytes:
        if self.blocked:
            return b""
        self._buf += chunk
        if not self._sniffed and len(self._buf) >= 4:
            self._sniff()
        return self._drain_raw(False) if self.mode == "raw" else self._drain_events(False)

    def finish(self) -> bytes:
        if self.blocked:
            return b""
        if not self._sniffed:
            self._sniff()
        return self._drain_raw(True) if self.mode == "raw" else self._drain_events(True)

    def _sniff(self) -> None:
        """Is the stream UTF-16 / UTF-32? Then it is scanned in raw mode (events are framed in UTF-8)."""
        self._sniffed = True
        if self._offset == 0:
            self._wide = detect_wide(bytes(self._buf[:64]), self._ct)
            if self._wide is not None:
                self.mode = "raw"

    # -- raw mode ---------------------------------------------------------------------------------------

    def _drain_raw(self, final: bool) -> bytes:
        window = self._ctx + bytes(self._buf)
        c = len(self._ctx)
        wide = self._window_encoding(self._offset - c)
        layers = self._scanner.config.decode
        segments = body_segments(window, "text/plain", 0, wide=wide, layers=layers)
        found = self._scanner.findings_in(self.direction, self.host, segments)
        cut = len(window) if final else len(window) - self.overlap
        if not final and len(self._buf) <= self.max_hold:
            for _, f in found:
                if f.start < cut < f.end:
                    cut = min(cut, f.start)
        cut = self._char_boundary(window, c, cut, wide)
        if cut <= c:
            return b""
        spans = []
        for _, f in found:
            if c < f.end <= cut:
                self._report(f, self._offset - c)
                if f.action in (REDACT, BLOCK):
                    spans.append((max(f.start, c) - c, f.end - c, marker(f.type)))
        out = apply_bytes(window[c:cut], spans, self._wide.codec if self._wide else "utf-8")
        self._ctx = window[:cut][-_CONTEXT:]
        self._buf = bytearray(window[cut:])
        self._offset += cut - c
        return out

    def _window_encoding(self, start: int) -> Wide | None:
        """How to read a raw window starting at stream position `start` (the BOM only in the first)."""
        if self._wide is None:
            return None
        return Wide(self._wide.codec, self._wide.bom if start == 0 else 0)

    def _char_boundary(self, window: bytes, c: int, cut: int, wide: Wide | None) -> int:
        """Move the cut back to a character boundary: never split a UTF-8 character, a UTF-16 / UTF-32
        code unit or a UTF-16 surrogate pair."""
        if wide is None:
            while c < cut < len(window) and window[cut] & 0xC0 == 0x80:
                cut -= 1
            return cut
        if cut >= len(window):
            return len(window)
        unit = wide.unit
        cut = wide.bom + (cut - wide.bom) // unit * unit
        if unit == 2 and cut - 2 >= max(c, wide.bom):
            high = window[cut - 2 : cut] if wide.codec.endswith("be") else window[cut - 2 : cut][::-1]
            if 0xD8 <= high[0] <= 0xDB:  # the first half of a surrogate pair: keep the pair together
                cut -= 2
        return cut

    # -- event mode -------------------------------------------------------------------------------------

    def _split(self, final: bool) -> int:
        """Move the complete events out of the buffer; return how many. The search for event ends resumes
        where the last one stopped (less the 3 bytes a CRLF CRLF may have begun in), so a huge event
        arriving in many chunks is searched once, not once per chunk."""
        buf = self._buf
        resume = max(0, self._searched - 3)
        if self.mode == "sse":
            bounds = [m.end() for m in _SSE_END.finditer(buf, resume)]
        else:
            bounds = []
            i = buf.find(b"\n", resume)
            while i != -1:
                bounds.append(i + 1)
                i = buf.find(b"\n", i + 1)
        if final and len(buf) > (bounds[-1] if bounds else 0):
            bounds.append(len(buf))
        pos = 0
        for end in bounds:
            raw = bytes(buf[pos:end])
            payloads = _payloads(raw, self.mode)
            self._events.append(_Event(raw, self._offset + pos, payloads, *_pieces(payloads)))
            pos = end
        del buf[:pos]
        self._searched = len(buf)
        self._offset += pos
        return len(bounds)

    def _drain_events(self, final: bool) -> bytes:
        new = self._split(final)
        if not self._events or not (new or final):
            return b""  # no new event: what is held, and so what can be released, is as it was
        window, pieces = self._window()
        segments = expand([Segment(window, (), "content")], self._scanner.config.decode)
        found = self._scanner.findings_in(self.direction, self.host, segments)
        cut = len(window) if final else self._hold_from(window)
        force = final or sum(len(e.raw) for e in self._events) > self.max_hold
        n = self._emittable(cut, found, force)
        held_from = self._events[n].pieces[0].start if n < len(self._events) else len(window)
        for _, f in found:
            if len(self._ctx_text) < f.end <= held_from:
                self._apply(f, pieces)
        released = self._events[:n]
        del self._events[:n]
        self._scan_event_fields(released)
        text = "".join(p.text for ev in released for p in ev.pieces)
        self._ctx_text = (self._ctx_text + text)[-_CONTEXT:]
        return b"".join(apply_bytes(ev.raw, ev.spans) for ev in released)

    def _hold_from(self, window: str) -> int:
        """Where held text starts: only the trailing run of non-space characters (at most `overlap`) can be
        the first part of a secret still arriving, so everything before it is released at once. Detection
        still sees the released text as context; an LLM token stream is not delayed by the overlap."""
        floor = max(len(window) - self.overlap, len(self._ctx_text))
        for i in range(len(window) - 1, floor - 1, -1):
            if window[i].isspace():
                return i + 1
        return floor

    def _window(self) -> tuple[str, list[tuple[_Piece, _Event]]]:
        parts = [self._ctx_text]
        pos = len(self._ctx_text)
        pieces = []
        for ev in self._events:
            for p in ev.pieces:
                p.start = pos
                parts.append(p.text)
                pos += len(p.text)
                pieces.append((p, ev))
        return "".join(parts), pieces

    def _emittable(self, cut: int, found: list[tuple[Hit, Finding]], force: bool) -> int:
        """How many pending events can be released: whole events whose content ends before the cut, never
        splitting a finding between released and held events (one that began in released text cannot be
        helped). Each step moves the cut back to a straddling finding's start: O(log) with bisect."""
        if force:
            return len(self._events)
        with_text = [i for i, ev in enumerate(self._events) if ev.pieces]
        ends = [self._events[i].pieces[-1].start + len(self._events[i].pieces[-1].text) for i in with_text]
        spans = sorted((f.start, f.end) for _, f in found)
        starts = [s for s, _ in spans]
        reach = list(accumulate((e for _, e in spans), max))  # the furthest end of the findings so far
        n = len(self._events)
        while True:
            k = bisect_right(ends, cut)  # events without text never hold anything back
            if k == len(with_text):
                return len(self._events)
            if with_text[k] == n:
                return n  # the straddling finding began in released text
            n = with_text[k]
            first = self._events[n].pieces[0].start
            i = bisect_right(reach, first)  # the first finding ending after `first`...
            if i >= bisect_left(starts, first):  # ...starts after it: none straddles
                return n
            cut = spans[i][0]

    def _apply(self, f: Finding, pieces: list[tuple[_Piece, _Event]]) -> None:
        first = True
        lo = hi = None
        for p, ev in pieces:
            s, e = max(f.start, p.start), min(f.end, p.start + len(p.text))
            if s >= e:
                continue
            rs, re_ = to_source(p.maps, s - p.start, e - p.start)
            lo = ev.offset + rs if lo is None else lo
            hi = ev.offset + re_
            if f.action in (REDACT, BLOCK):
                ev.spans.append((rs, re_, marker(f.type) if first else ""))
            first = False
        if lo is not None and hi is not None:
            self._report(replace(f, start=lo, end=hi), 0)

    def _scan_event_fields(self, events: list[_Event]) -> None:
        """Secrets in the events' other JSON fields (ids, names, errors), not part of the text stream: one
        scan for all released events, and only of events whose data has a secret's keyword at all."""
        segments: list[Segment] = []
        owner: dict[str, _Event] = {}
        for i, ev in enumerate(events):
            for (start, payload, is_json, base), rest in zip(ev.payloads, ev.rests, strict=True):
                if is_json and self._may_hold_secret(rest):
                    owner[f"event:{i}"] = ev
                    shift = OffsetMap.shift(start, len(payload))
                    found: list[Segment] = []
                    json_segments(payload, (shift,) + base, f"event:{i}", lambda: "", 1, found)
                    segments += [s for s in found if s.key not in CONTENT_KEYS]
        if not segments:
            return
        segments = expand(segments, self._scanner.config.decode)
        for hit, f in self._scanner.findings_in(self.direction, self.host, segments):
            ev = owner[hit.segment.container]
            self._report(f, ev.offset)
            if f.action in (REDACT, BLOCK):
                ev.spans.append((f.start, f.end, marker(f.type)))

    def _may_hold_secret(self, text: str) -> bool:
        if text in self._clean:
            return False
        if self._scanner.may_hold_secret(self.direction, text):
            return True
        if len(self._clean) >= _CLEAN_MEMO:
            self._clean.clear()
        self._clean.add(text)
        return False

    def _report(self, f: Finding, shift: int) -> None:
        self.findings.append(replace(f, start=f.start + shift, end=f.end + shift) if shift else f)
        if f.action == BLOCK:
            self.blocked = True


def _payloads(raw: bytes, mode: str) -> list[_Payload]:
    """(start in the event text, payload text, is JSON, maps to event bytes) of each data line."""
    text, umap = decode_utf8(raw)
    base: tuple[OffsetMap, ...] = (umap,) if umap else ()
    out: list[_Payload] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        start = pos
        pos += len(line)
        if mode == "sse":
            if not body.startswith("data:"):
                continue
            skip = 6 if body.startswith("data: ") else 5
            start, body = start + skip, body[skip:]
        if body:
            out.append((start, body, body[:1] in ("{", "[") and parse_ok(body), base))
    return out


def _piece(
    text: str, start: int, length: int, extra: tuple[OffsetMap, ...], base: tuple[OffsetMap, ...]
) -> _Piece:
    folded, fmap = fold(text)
    return _Piece(folded, ((fmap,) if fmap else ()) + extra + (OffsetMap.shift(start, length),) + base)


def _pieces(payloads: list[_Payload]) -> tuple[list[_Piece], list[str]]:
    """The event's text deltas (JSON strings under CONTENT_KEYS), or its whole data when not JSON; and per
    payload, its JSON text with the deltas cut out (empty when not JSON: the deltas are all of it)."""
    out = []
    rests = []
    for start, payload, is_json, base in payloads:
        if not is_json:
            out.append(_piece(payload, start, len(payload), (), base))
            rests.append("")
            continue
        prev_key = None
        kept, pos = [], 0
        for m in STRING_RE.finditer(payload):
            if m.group(2):
                prev_key = unescape(m.group(1))[0]
                continue
            if prev_key in CONTENT_KEYS and m.group(1):
                un, umap = unescape(m.group(1))
                out.append(_piece(un, start + m.start(1), len(m.group(1)), (umap,) if umap else (), base))
                kept.append(payload[pos : m.start(1)])
                pos = m.end(1)
            prev_key = None
        kept.append(payload[pos:])
        rests.append("".join(kept))
    return out, rests
