"""Benchmark payloads: a ~4 KB chat request, a ~1 KB chat answer with usage, SSE chunks and a 1 MB document."""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini"

_PROSE = (
    "The quarterly review covers the migration of the billing service to the new event pipeline. "
    "Latency at the 99th percentile dropped after the batch writer was replaced, while error rates "
    "stayed flat. Two follow-ups remain: the retry policy for the ledger consumer and the dashboard "
    "that still reads from the old replica. Summarise the risks, list the owners, and propose a "
    "rollout order that keeps the on-call load low during the holiday freeze. "
)


def prose(n_chars: int) -> str:
    """Plain English text of exactly n_chars characters (no secrets, no PII)."""
    return (_PROSE * (n_chars // len(_PROSE) + 1))[:n_chars]


def chat_request(stream: bool = False, size: int = 4096) -> bytes:
    """An OpenAI chat-completions request body of about `size` bytes."""
    doc: dict[str, object] = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a careful engineering assistant. Answer concisely."},
            {"role": "user", "content": ""},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    if stream:
        doc["stream"] = True
        doc["stream_options"] = {"include_usage": True}
    fill = size - len(json.dumps(doc, separators=(",", ":")))
    doc["messages"][1]["content"] = prose(max(fill, 0))  # type: ignore[index]
    return json.dumps(doc, separators=(",", ":")).encode()


def chat_response(size: int = 1024) -> bytes:
    """An OpenAI chat.completion answer of about `size` bytes with a usage block."""
    doc = {
        "id": "chatcmpl-bench0001",
        "object": "chat.completion",
        "created": 1730000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 1010,
            "completion_tokens": 160,
            "total_tokens": 1170,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_bench",
    }
    fill = size - len(json.dumps(doc, separators=(",", ":")))
    doc["choices"][0]["message"]["content"] = prose(max(fill, 0))  # type: ignore[index]
    return json.dumps(doc, separators=(",", ":")).encode()


def sse_event(i: int) -> bytes:
    chunk = {
        "id": "chatcmpl-bench0002",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": {"content": f" token{i}"}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def sse_tail(events: int) -> bytes:
    """The closing events of an OpenAI stream with include_usage: finish, usage chunk, [DONE]."""
    base = {"id": "chatcmpl-bench0002", "object": "chat.completion.chunk", "created": 1730000000}
    finish = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {
        **base,
        "choices": [],
        "usage": {"prompt_tokens": 40, "completion_tokens": events, "total_tokens": 40 + events},
    }
    out = b""
    for doc in (finish, usage):
        out += b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


def sse_body(events: int) -> bytes:
    """A whole OpenAI chat stream of `events` content chunks (for the parser micro-benchmark)."""
    return b"".join(sse_event(i) for i in range(events)) + sse_tail(events)


def upload_document(size: int = 1 << 20) -> bytes:
    """A ~1 MB JSON document (a tool call uploading notes): prose fields, no secrets."""
    one = len(json.dumps({"id": 0, "title": "note 0", "text": prose(900)}, separators=(",", ":"))) + 1
    count = size // one + 1
    notes = [{"id": i, "title": f"note {i}", "text": prose(900)} for i in range(count)]
    return json.dumps({"notes": notes}, separators=(",", ":")).encode()
