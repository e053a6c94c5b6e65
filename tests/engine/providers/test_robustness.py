"""Bad provider data never raises: truncated streams, invalid JSON, wrong-typed usage, bad CRCs, errors."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from palaryn_proxy.providers import LLMRequest, ProviderRegistry, StreamParser
from palaryn_proxy.providers.eventstream import EventStreamDecoder, encode_message
from palaryn_proxy.types import Usage

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = ProviderRegistry()

# (adapter, path, query, request fixture, stream fixture, content type)
STREAMS = [
    ("openai", "/v1/chat/completions", {}, "openai_chat_stream", "openai_chat_stream.sse", "text/event-stream"),
    ("openai", "/v1/responses", {}, "openai_responses_stream", "openai_responses_stream.sse", "text/event-stream"),
    ("anthropic", "/v1/messages", {}, "anthropic_stream", "anthropic_stream.sse", "text/event-stream"),
    ("gemini", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", {"alt": "sse"}, "gemini_sse",
     "gemini_sse.sse", "text/event-stream"),
    ("gemini", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", {}, "gemini_array", "gemini_array.json",
     "application/json"),
    ("bedrock", "/model/us.amazon.nova-pro-v1:0/converse-stream", {}, "bedrock_stream", "bedrock_stream.bin",
     "application/vnd.amazon.eventstream"),
    ("cohere", "/v2/chat", {}, "cohere_stream", "cohere_stream.sse", "text/event-stream"),
    ("ollama", "/api/chat", {}, "ollama_chat_stream", "ollama_chat_stream.ndjson", "application/x-ndjson"),
]  # fmt: skip


def make_parser(adapter_id: str, path: str, query: dict[str, str], req_name: str, ct: str) -> StreamParser:
    adapter = REGISTRY.adapter(adapter_id)
    req = adapter.parse_request("POST", path, query, {}, (FIXTURES / f"{req_name}.req.json").read_bytes())
    assert req is not None
    parser = adapter.stream_parser(req, ct)
    assert parser is not None
    return parser


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s[4])
def test_truncated_streams_report_a_problem(stream: tuple[str, str, dict[str, str], str, str, str]) -> None:
    adapter_id, path, query, req_name, body_name, ct = stream
    body = (FIXTURES / body_name).read_bytes()
    for cut in (1, len(body) // 3, len(body) // 2, len(body) - 30):
        parser = make_parser(adapter_id, path, query, req_name, ct)
        parser.feed(body[:cut])
        result = parser.finish()
        assert result.problem is not None and "truncated" in result.problem
        assert parser.finish() is result  # idempotent


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s[4])
def test_random_garbage_never_raises(stream: tuple[str, str, dict[str, str], str, str, str]) -> None:
    adapter_id, path, query, req_name, _, ct = stream
    rng = random.Random(7)
    for _ in range(20):
        parser = make_parser(adapter_id, path, query, req_name, ct)
        for _ in range(20):
            parser.feed(rng.randbytes(rng.randint(1, 300)))
        parser.feed(b'data: {"x": [1, 2\n\n{"y": \n[{]}]\n')
        result = parser.finish()
        assert result.usage is None and result.problem


def test_invalid_json_event_is_skipped_and_usage_still_read() -> None:
    parser = make_parser("openai", "/v1/chat/completions", {}, "openai_chat_stream", "text/event-stream")
    body = (FIXTURES / "openai_chat_stream.sse").read_bytes()
    parser.feed(b'data: {"choices": [{"delta": {"content": "x"\n\n' + b"data: \xff\xfe\n\n" + body)
    result = parser.finish()
    assert result.usage == Usage(14, 16, service_tier="default")
    assert result.problem == "invalid json"


@pytest.mark.parametrize(
    ("adapter_id", "path", "req_name", "resp_name", "field_path"),
    [
        ("openai", "/v1/chat/completions", "openai_chat", "openai_chat.resp.json", ["usage", "prompt_tokens"]),
        ("openai", "/v1/responses", "openai_responses", "openai_responses.resp.json",
         ["usage", "output_tokens_details", "reasoning_tokens"]),
        ("anthropic", "/v1/messages", "anthropic", "anthropic.resp.json", ["usage", "cache_read_input_tokens"]),
        ("gemini", "/v1beta/models/gemini-2.5-flash:generateContent", "gemini", "gemini.resp.json",
         ["usageMetadata", "thoughtsTokenCount"]),
        ("bedrock", "/model/m/converse", "bedrock", "bedrock.resp.json", ["usage", "inputTokens"]),
        ("deepseek", "/chat/completions", "deepseek", "deepseek.resp.json", ["usage", "prompt_cache_hit_tokens"]),
        ("xai", "/v1/chat/completions", "xai", "xai.resp.json",
         ["usage", "completion_tokens_details", "reasoning_tokens"]),
        ("cohere", "/v2/chat", "cohere", "cohere.resp.json", ["usage", "billed_units", "output_tokens"]),
        ("ollama", "/api/chat", "ollama_chat", "ollama_chat.resp.json", ["eval_count"]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("bad", ["12", 1.5, True, -3, [1], {"n": 1}])
def test_wrong_typed_usage_field_is_a_problem(
    adapter_id: str, path: str, req_name: str, resp_name: str, field_path: list[str], bad: object
) -> None:
    adapter = REGISTRY.adapter(adapter_id)
    req = adapter.parse_request("POST", path, {}, {}, (FIXTURES / f"{req_name}.req.json").read_bytes())
    assert req is not None
    data = json.loads((FIXTURES / resp_name).read_bytes())
    target = data
    for key in field_path[:-1]:
        target = target[key]
    target[field_path[-1]] = bad
    result = adapter.parse_response(req, 200, "application/json", json.dumps(data).encode())
    assert result.usage is None
    assert result.problem is not None and field_path[-1] in result.problem
    assert result.model  # the rest of the response is still read


def test_usage_not_an_object_and_integral_float_accepted() -> None:
    adapter = REGISTRY.adapter("openai")
    req = LLMRequest("openai", "chat.completions", "gpt-4o")
    result = adapter.parse_response(req, 200, "application/json", b'{"usage": "lots"}')
    assert (result.usage, result.problem) == (None, "usage is not an object")
    body = b'{"usage": {"prompt_tokens": 10.0, "completion_tokens": 2}}'
    assert adapter.parse_response(req, 200, "application/json", body).usage == Usage(10, 2)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "invalid json"),
        (b"", "empty body"),
        (b"[1, 2, 3]", "no usage in response"),
        (b'{"choices": "nope", "usage": {"prompt_tokens": 1}}', None),
        (b"[" * 100_000, "invalid json"),
    ],
)
def test_broken_json_responses(body: bytes, problem: str | None) -> None:
    req = LLMRequest("openai", "chat.completions", "gpt-4o")
    result = REGISTRY.adapter("openai").parse_response(req, 200, "application/json", body)
    assert result.problem == problem
    assert result.model == "gpt-4o"


@pytest.mark.parametrize(
    ("adapter_id", "body", "error"),
    [
        ("openai", b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}',
         "requests"),
        ("anthropic", b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
         "overloaded_error"),
        ("gemini", b'[{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}]',
         "RESOURCE_EXHAUSTED"),
        ("bedrock", b'{"message": "Too many requests, please wait before trying again."}', "http_429"),
        ("ollama", b'{"error": "model \\"llama9\\" not found, try pulling it first"}', "http_429"),
        ("openai", b"<html>Bad gateway</html>", "http_429"),
    ],
)  # fmt: skip
def test_error_responses(adapter_id: str, body: bytes, error: str) -> None:
    req = LLMRequest(adapter_id, "chat.completions", "m")
    result = REGISTRY.adapter(adapter_id).parse_response(req, 429, "application/json", body)
    assert (result.usage, result.error, result.problem) == (None, error, "error response 429")


def test_bedrock_bad_crc_mid_stream() -> None:
    body = bytearray((FIXTURES / "bedrock_stream.bin").read_bytes())
    second = int.from_bytes(body[0:4], "big")  # offset of the 2nd message (first text delta)
    body[second + 30] ^= 0x55
    parser = make_parser(
        "bedrock", "/model/m/converse-stream", {}, "bedrock_stream", "application/vnd.amazon.eventstream"
    )
    parser.feed(bytes(body))
    result = parser.finish()
    assert result.usage == Usage(1042, 26, 0, 1024)  # later messages still decoded
    assert result.problem == "eventstream message crc mismatch"
    assert not result.output_text.startswith("Waves")
    body[0] ^= 0x01  # a broken prelude loses the framing: nothing after it can be trusted
    parser = make_parser(
        "bedrock", "/model/m/converse-stream", {}, "bedrock_stream", "application/vnd.amazon.eventstream"
    )
    parser.feed(bytes(body))
    result = parser.finish()
    assert result.usage is None and result.problem
    assert "prelude crc mismatch" in result.problem


def test_bedrock_exception_frame() -> None:
    parser = make_parser(
        "bedrock", "/model/m/converse-stream", {}, "bedrock_stream", "application/vnd.amazon.eventstream"
    )
    parser.feed(
        encode_message({":message-type": "exception", ":exception-type": "throttlingException"}, b"{}")
    )
    result = parser.finish()
    assert result.error == "throttlingException"
    assert result.problem == "stream error: throttlingException; truncated stream"


def test_mid_stream_provider_errors() -> None:
    parser = make_parser("anthropic", "/v1/messages", {}, "anthropic_stream", "text/event-stream")
    parser.feed(
        b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x","usage":'
        b'{"input_tokens":5,"output_tokens":1}}}\n\n'
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    result = parser.finish()
    assert (result.usage, result.error, result.model) == (None, "overloaded_error", "claude-x")
    parser = make_parser("openai", "/v1/chat/completions", {}, "openai_chat_stream", "text/event-stream")
    parser.feed(b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n')
    assert parser.finish().error == "server_error"
    parser = make_parser("ollama", "/api/chat", {}, "ollama_chat_stream", "application/x-ndjson")
    parser.feed(b'{"error": "an error was encountered while running the model"}\n')
    assert parser.finish().error == "error"


def test_two_thousand_event_stream() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06"}
    events = [
        b"data: " + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}).encode()
        for i in range(2000)
    ]
    usage = {"prompt_tokens": 120, "completion_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 64}}
    events.append(b"data: " + json.dumps({**chunk, "choices": [], "usage": usage}).encode())
    body = b"\n\n".join(events) + b"\n\ndata: [DONE]\n\n"
    parser = make_parser("openai", "/v1/chat/completions", {}, "openai_chat_stream", "text/event-stream")
    rng, i, seen_midway = random.Random(3), 0, 0
    while i < len(body):
        size = rng.randint(1, 900)
        parser.feed(body[i : i + size])
        i += size
        if i > len(body) // 2 and not seen_midway:
            seen_midway = parser.output_tokens_so_far
    result = parser.finish()
    assert result.usage == Usage(120, 2000, 64)
    assert result.output_text == "".join(f"w{i} " for i in range(2000))
    assert 0 < seen_midway < 2000  # the running estimate grew with the text
    assert parser.output_tokens_so_far == 2000  # exact once the usage chunk arrived


def test_first_token_and_running_counts() -> None:
    parser = make_parser(
        "gemini", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", {"alt": "sse"}, "gemini_sse",
        "text/event-stream",
    )  # fmt: skip
    assert not parser.first_token_seen and parser.output_tokens_so_far == 0
    events = (FIXTURES / "gemini_sse.sse").read_bytes().split(b"\r\n\r\n")
    parser.feed(events[0] + b"\r\n\r\n")
    assert parser.first_token_seen
    assert (
        parser.output_tokens_so_far == len("In the heart of a bustling city, ") // 4
    )  # no running count yet
    parser.feed(b"\r\n\r\n".join(events[1:]))
    assert parser.output_tokens_so_far == 34  # Gemini's running candidatesTokenCount


def test_decoder_bug_guard_keeps_the_flow() -> None:
    """A framer that blows up marks the parser broken instead of raising into mitmproxy."""
    parser = make_parser(
        "bedrock", "/model/m/converse-stream", {}, "bedrock_stream", "application/vnd.amazon.eventstream"
    )

    class Exploding(EventStreamDecoder):
        def feed(self, chunk: bytes) -> list:  # type: ignore[type-arg]
            raise IndexError("boom")

    parser._framer = Exploding()
    parser.feed(b"anything")
    parser.feed(b"more")
    result = parser.finish()
    assert result.problem is not None and result.problem.startswith("parser error: IndexError")


def test_wrong_typed_usage_in_a_stream_is_a_problem() -> None:
    parser = make_parser("openai", "/v1/chat/completions", {}, "openai_chat_stream", "text/event-stream")
    parser.feed(
        b'data: {"choices": [], "usage": {"prompt_tokens": "14", "completion_tokens": 2}}\n\ndata: [DONE]\n\n'
    )
    result = parser.finish()
    assert result.usage is None
    assert result.problem == "usage.prompt_tokens is not an integer; no usage in stream"


def test_bedrock_invoke_other_model_families() -> None:
    """Llama on InvokeModel: no usage in the JSON body; the stream's invocationMetrics are exact."""
    adapter = REGISTRY.adapter("bedrock")
    body = b'{"prompt": "<|begin_of_text|>Hi", "max_gen_len": 256}'
    req = adapter.parse_request("POST", "/model/meta.llama3-70b-instruct-v1:0/invoke", {}, {}, body)
    assert req is not None and (req.api, req.max_output_tokens) == ("invoke", 256)
    answer = b'{"generation": "Hello!", "prompt_token_count": 8, "generation_token_count": 3, "stop_reason": "stop"}'
    assert adapter.parse_response(req, 200, "application/json", answer).problem == "no usage in response"
    req = adapter.parse_request(
        "POST", "/model/meta.llama3-70b-instruct-v1:0/invoke-with-response-stream", {}, {}, body
    )
    assert req is not None
    parser = adapter.stream_parser(req, "application/vnd.amazon.eventstream")
    assert parser is not None
    for event in (
        {"generation": "Hello", "prompt_token_count": 8},
        {"generation": "!", "stop_reason": "stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 8,
         "outputTokenCount": 3, "invocationLatency": 300, "firstByteLatency": 120}},
    ):  # fmt: skip
        payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode()
        parser.feed(encode_message({":event-type": "chunk", ":message-type": "event"}, payload))
    result = parser.finish()
    assert (result.usage, result.output_text, result.model) == (
        Usage(8, 3),
        "Hello!",
        "meta.llama3-70b-instruct-v1:0",
    )
    assert parser.error_event("m", "c").startswith(b"\x00")  # an eventstream exception message


def test_foreign_surfaces_answer_in_their_own_style() -> None:
    vertex = REGISTRY.adapter("vertex")
    path = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    req = vertex.parse_request(
        "POST", path, {}, {}, b'{"anthropic_version": "vertex-2023-10-16", "max_tokens": 5}'
    )
    assert req is not None and req.api == "messages" and vertex.style_for(req) == "anthropic"
    assert json.loads(vertex.error_body("m", "c", 429, req)[0]) == {
        "type": "error",
        "error": {"type": "c", "message": "m"},
    }
    assert vertex.style_for(None) == "gemini"
