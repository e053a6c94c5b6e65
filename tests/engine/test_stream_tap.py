"""The stream tap on plain data: bytes untouched without guards, clean event-boundary cuts with them, and
one decoder per stream feeding both the usage parser and the DLP scanner."""

from __future__ import annotations

import gzip
import json
import random
import time

from fakesecrets import github_token

from palaryn_proxy.dlp import DlpConfig, DlpScanner
from palaryn_proxy.providers import ContentDecoder, ProviderRegistry
from palaryn_proxy.types import FlowState, Identity, StreamPlan
from palaryn_proxy.usage.stream import Cut, StreamTap, split_events

ADAPTER = ProviderRegistry().adapter("openai")
REQ = ADAPTER.parse_request(
    "POST",
    "/v1/chat/completions",
    {},
    {},
    b'{"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}',
)


def event(text: str) -> bytes:
    data = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def state() -> FlowState:
    return FlowState("r", time.monotonic(), "t", Identity("a", "w"), "c", "POST", "u", "h")


def run(tap: StreamTap, body: bytes, seed: int) -> bytes:
    rng, out, i = random.Random(seed), [], 0
    while i < len(body):
        n = rng.choice((1, 5, 17, 64, 300))
        piece = tap(body[i : i + n])
        out.extend([piece] if isinstance(piece, bytes) else piece)
        i += n
    end = tap(b"")
    out.extend([end] if isinstance(end, bytes) else end)
    return b"".join(out)


def test_without_guards_bytes_pass_untouched():
    body = b"".join(event(f"w{i}") for i in range(50)) + b"data: [DONE]\n\n"
    for seed in range(5):
        tap = StreamTap(state(), ADAPTER.stream_parser(REQ, "text/event-stream"), None, splittable=True)
        assert run(tap, body, seed) == body


def test_guard_cuts_on_an_event_boundary_and_withholds_the_tripping_event():
    body = (
        b"".join(event(f"w{i}") for i in range(40))
        + event("FORBIDDEN")
        + event("after")
        + b"data: [DONE]\n\n"
    )
    for seed in range(5):
        st = state()
        st.stream = StreamPlan(
            guards=[
                lambda p: Cut("stop", "code", before_chunk=True) if "FORBIDDEN" in "".join(p._text) else None
            ]
        )
        tap = StreamTap(st, ADAPTER.stream_parser(REQ, "text/event-stream"), None, splittable=True)
        received = run(tap, body, seed)
        events = split_events(received, "sse")
        assert events[:-1] == [event(f"w{i}") for i in range(40)]  # every whole event before the cut
        assert b"FORBIDDEN" not in received and b'"code":"code"' in events[-1]


def test_guarded_events_of_one_chunk_leave_as_one_write_and_a_partial_event_as_none():
    st = state()
    st.stream = StreamPlan(guards=[lambda p: None])
    tap = StreamTap(st, ADAPTER.stream_parser(REQ, "text/event-stream"), None, splittable=True)
    three = event("a") + event("b") + event("c")
    assert tap(three) == three  # one bytes object: mitmproxy writes it at once, not once per event
    partial = event("d")[:10]
    assert tap(partial) == []  # never b"": an empty chunk ends a chunked HTTP/1 body
    assert tap(event("d")[10:]) == event("d")


TOKEN = github_token()
USAGE = (
    b'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[],'
    b'"usage":{"prompt_tokens":7,"completion_tokens":11,"total_tokens":18}}\n\n'
)


class CountingDecoder(ContentDecoder):
    """Counts what it is asked to decode: every upstream byte must be decoded once, whoever reads it."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.fed = 0
        self.calls = 0

    def decode(self, chunk: bytes) -> bytes:
        self.fed += len(chunk)
        self.calls += 1
        return super().decode(chunk)


def test_a_gzip_sse_stream_with_dlp_on_is_decoded_once_for_parser_and_scanner():
    words = [event(f"w{i} ") for i in range(30)]
    plain = b"".join(words[:10]) + event(f"key {TOKEN[:12]}") + event(TOKEN[12:] + " ok")
    plain += b"".join(words[10:]) + USAGE + b"data: [DONE]\n\n"
    body = gzip.compress(plain)
    for seed in range(3):
        st = state()
        scanner = DlpScanner(DlpConfig.from_mapping({})).stream_scanner(content_type="text/event-stream")
        st.stream = StreamPlan(guards=[lambda p: None], scanner=scanner)
        decoder = CountingDecoder("gzip")
        tap = StreamTap(st, ADAPTER.stream_parser(REQ, "text/event-stream"), decoder)
        received = run(tap, body, seed)
        n_chunks = decoder.calls
        assert decoder.fed == len(body) and n_chunks > 1  # each upstream byte decoded exactly once
        assert TOKEN.encode() not in received and b"[REDACTED:github_pat]" in received
        assert received.endswith(b"data: [DONE]\n\n") and b"w29 " in received  # decoded, whole
        assert [f.type for f in scanner.findings] == ["github_pat"]
        assert tap.parser is not None and tap.parser.finish().usage is not None
        assert st.response_bytes == len(body) and decoder.problem is None


def test_without_a_scanner_a_gzip_stream_reaches_the_client_as_sent():
    plain = b"".join(event(f"w{i}") for i in range(20)) + USAGE + b"data: [DONE]\n\n"
    body = gzip.compress(plain)
    tap = StreamTap(state(), ADAPTER.stream_parser(REQ, "text/event-stream"), ContentDecoder("gzip"))
    assert run(tap, body, 1) == body
    assert tap.parser is not None and tap.parser.finish().usage is not None


def test_guarded_crlf_events_are_forwarded_and_an_unfinished_tail_is_scanned():
    st = state()
    scanner = DlpScanner(DlpConfig.from_mapping({})).stream_scanner(content_type="text/event-stream")
    st.stream = StreamPlan(guards=[lambda p: None], scanner=scanner)
    tap = StreamTap(st, ADAPTER.stream_parser(REQ, "text/event-stream"), None, splittable=True)
    crlf = event("a ").replace(b"\n\n", b"\r\n\r\n")
    tail = f"data: {TOKEN}".encode()  # a last event the upstream never ended
    received = run(tap, crlf + tail, 0)
    assert received.startswith(crlf) and TOKEN.encode() not in received
