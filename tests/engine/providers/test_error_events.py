"""Error bodies and in-stream error events the proxy injects look like each provider's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from palaryn_proxy.providers import ProviderRegistry
from palaryn_proxy.providers.eventstream import EventStreamDecoder
from palaryn_proxy.providers.frames import Frame
from palaryn_proxy.providers.jsonarray import JSONArrayDecoder
from palaryn_proxy.providers.ndjson import NDJSONDecoder
from palaryn_proxy.providers.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = ProviderRegistry()
MSG, CODE = "palaryn: budget exceeded", "budget_exceeded"


def parser_for(
    adapter_id: str, path: str, body: dict[str, object], ct: str, query: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    adapter = REGISTRY.adapter(adapter_id)
    req = adapter.parse_request("POST", path, query or {}, {}, json.dumps(body).encode())
    assert req is not None
    parser = adapter.stream_parser(req, ct)
    assert parser is not None
    return parser


def only_frame(frames: list[Frame]) -> dict[str, object]:
    assert len(frames) == 1
    data = json.loads(frames[0].data)
    assert isinstance(data, dict)
    return data


def test_openai_chat_and_responses_events() -> None:
    chat = parser_for("openai", "/v1/chat/completions", {"stream": True}, "text/event-stream")
    event = only_frame(SSEDecoder().feed(chat.error_event(MSG, CODE)))
    assert event == {"error": {"message": MSG, "type": CODE, "param": None, "code": CODE}}
    responses = parser_for("openai", "/v1/responses", {"stream": True}, "text/event-stream")
    frames = SSEDecoder().feed(responses.error_event(MSG, CODE))
    assert frames[0].name == "error" and json.loads(frames[0].data)["type"] == "error"


def test_anthropic_and_cohere_events() -> None:
    anthropic = parser_for("anthropic", "/v1/messages", {"stream": True}, "text/event-stream")
    frames = SSEDecoder().feed(anthropic.error_event(MSG, CODE))
    assert frames[0].name == "error"
    assert json.loads(frames[0].data) == {"type": "error", "error": {"type": CODE, "message": MSG}}
    cohere = parser_for("cohere", "/v2/chat", {"stream": True}, "text/event-stream")
    end = only_frame(SSEDecoder().feed(cohere.error_event(MSG, CODE)))
    assert end == {"type": "message-end", "delta": {"error": MSG, "finish_reason": "ERROR"}}


def test_ollama_and_bedrock_events() -> None:
    ollama = parser_for("ollama", "/api/chat", {}, "application/x-ndjson")
    assert only_frame(NDJSONDecoder().feed(ollama.error_event(MSG, CODE))) == {"error": MSG}
    bedrock = parser_for("bedrock", "/model/m/converse-stream", {}, "application/vnd.amazon.eventstream")
    decoder = EventStreamDecoder()
    frames = decoder.feed(bedrock.error_event(MSG, CODE, status=429))
    assert frames == [
        Frame("throttlingException", json.dumps({"message": MSG}, separators=(",", ":")).encode(), True)
    ]
    assert decoder.problem is None


def test_gemini_sse_event() -> None:
    gemini = parser_for(
        "gemini", "/v1beta/models/g:streamGenerateContent", {}, "text/event-stream", {"alt": "sse"}
    )
    error = only_frame(SSEDecoder().feed(gemini.error_event(MSG, CODE, status=429)))
    assert error == {"error": {"code": 429, "message": MSG, "status": "RESOURCE_EXHAUSTED"}}


@pytest.mark.parametrize("cut", ["before", "first", "middle"])
def test_gemini_json_array_event_keeps_the_array_valid(cut: str) -> None:
    body = (FIXTURES / "gemini_array.json").read_bytes()
    elements = json.loads(body)
    end_first = body.index(b"\n}\n,") + 2
    prefix = {"before": b"", "first": body[:end_first], "middle": body[: body.rindex(b"\n,\r\n") + 4]}[cut]
    gemini = parser_for("gemini", "/v1beta/models/g:streamGenerateContent", {}, "application/json")
    gemini.feed(prefix)
    assert gemini.at_boundary
    whole = prefix + gemini.error_event(MSG, CODE, status=403)
    data = json.loads(whole)
    kept = {"before": 0, "first": 1, "middle": 2}[cut]
    assert data[:kept] == elements[:kept]
    assert data[-1]["error"]["status"] == "PERMISSION_DENIED"
    assert [json.loads(f.data) for f in JSONArrayDecoder().feed(whole)] == data


@pytest.mark.parametrize(
    ("adapter_id", "status", "body", "header"),
    [
        ("openai", 429, {"error": {"message": MSG, "type": CODE, "param": None, "code": CODE}}, None),
        ("anthropic", 429, {"type": "error", "error": {"type": CODE, "message": MSG}}, None),
        ("gemini", 403, {"error": {"code": 403, "message": MSG, "status": "PERMISSION_DENIED"}}, None),
        ("bedrock", 429, {"message": MSG}, "ThrottlingException"),
        ("bedrock", 403, {"message": MSG}, "AccessDeniedException"),
        ("ollama", 403, {"error": MSG}, None),
        ("cohere", 429, {"message": MSG}, None),
    ],
)
def test_error_bodies(adapter_id: str, status: int, body: dict[str, object], header: str | None) -> None:
    raw, headers = REGISTRY.adapter(adapter_id).error_body(MSG, CODE, status)
    assert json.loads(raw) == body
    assert headers["content-type"] == "application/json"
    assert headers.get("x-amzn-errortype") == header


def test_openai_compatible_surface_of_ollama_answers_like_openai() -> None:
    adapter = REGISTRY.adapter("ollama")
    req = adapter.parse_request("POST", "/v1/chat/completions", {}, {}, b'{"model":"m","stream":true}')
    raw, _ = adapter.error_body(MSG, CODE, 429, req)
    assert json.loads(raw)["error"]["code"] == CODE
    parser = adapter.stream_parser(req, "text/event-stream")  # type: ignore[arg-type]
    assert parser is not None and parser.error_event(MSG, CODE).startswith(b'data: {"error"')
    assert adapter.stream_error_event(MSG, CODE) == b'{"error":"palaryn: budget exceeded"}\n'
