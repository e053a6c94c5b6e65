"""The usage stage: LLM requests parsed, responses (buffered or streamed) settled into usage and cost."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from flowkit import Harness, chat_answer, chat_flow, flow, metric, ok, state

from palaryn_proxy.types import Kind


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def chunk(text: str) -> dict:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


USAGE_CHUNK = {
    "id": "c",
    "object": "chat.completion.chunk",
    "model": "gpt-4o-mini",
    "choices": [],
    "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34},
}


async def test_buffered_answer_settles_usage_and_cost(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = chat_flow()
    await h.send(f, chat_answer(prompt_tokens=100, completion_tokens=200))
    st = state(f)
    assert st.usage is not None and (st.usage.input_tokens, st.usage.output_tokens) == (100, 200)
    assert not st.usage.estimated
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens
    assert st.cost_usd == Decimal("0.000135")
    record = h.record(f)
    assert record["usage"]["input_tokens"] == 100 and record["usage"]["output_tokens"] == 200
    assert Decimal(record["cost_usd"]) == Decimal("0.000135") and record["status"] == 200
    assert metric(h.runtime.metrics.llm_requests) == 1


async def test_streamed_answer_passes_untouched_and_its_usage_chunk_is_counted(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    f = chat_flow(stream=True)
    body = sse(chunk("Hel"), chunk("lo"), USAGE_CHUNK)
    received = await h.send(f, ok(body, "text/event-stream"), chunks=7)
    assert received == body  # streamed through the tap, byte for byte
    assert f.response is not None and f.response.stream
    st = state(f)
    assert st.usage is not None and (st.usage.input_tokens, st.usage.output_tokens) == (30, 4)
    assert st.cost_usd is not None and st.cost_usd > 0
    assert h.record(f)["response_bytes"] == len(body)


async def test_answer_without_usage_is_estimated(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = chat_flow(stream=True)
    await h.send(f, ok(sse(chunk("Hello there, how are you today?")), "text/event-stream"))
    usage = state(f).usage
    assert usage is not None and usage.estimated and usage.output_tokens > 0


async def test_force_stream_usage_asks_the_provider_for_a_usage_chunk(
    harness: Callable[..., Harness],
) -> None:
    h = harness({"force_stream_usage": True})
    f = chat_flow(stream=True)
    await h.send(f, ok(sse(USAGE_CHUNK), "text/event-stream"))
    [sent] = h.upstream_saw
    assert json.loads(sent.content or b"")["stream_options"] == {"include_usage": True}
    plain = chat_flow()  # not a stream: the body is left alone
    await h.send(plain, chat_answer())
    assert "stream_options" not in json.loads(h.upstream_saw[1].content or b"")


async def test_non_llm_traffic_has_no_usage(harness: Callable[..., Harness]) -> None:
    h = harness()
    f = flow("https://upstream.test/v1/chat/completions", "POST", json_body={"model": "gpt-4o-mini"})
    await h.send(f, chat_answer())
    st = state(f)
    assert st.kind is Kind.HTTP and st.usage is None and st.cost_usd is None
