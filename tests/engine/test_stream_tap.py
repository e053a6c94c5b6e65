"""The stream tap on plain data: bytes untouched without guards, clean event-boundary cuts with them."""

from __future__ import annotations

import json
import random
import time

from palaryn_proxy.providers import ProviderRegistry
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
