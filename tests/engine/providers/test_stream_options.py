"""force_stream_usage: add_stream_usage_option rewrites only OpenAI-style chat/completions streams."""

from __future__ import annotations

import json

import pytest

from palaryn_proxy.providers import LLMRequest, ProviderRegistry, add_stream_usage_option

REGISTRY = ProviderRegistry()


def request(
    provider: str, path: str, body: dict[str, object], query: dict[str, str] | None = None
) -> LLMRequest:
    req = REGISTRY.adapter(provider).parse_request("POST", path, query or {}, {}, json.dumps(body).encode())
    assert req is not None
    return req


def test_adds_include_usage_and_keeps_everything_else() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "héllo"}], "stream": True,
            "stream_options": {"include_obfuscation": False}, "temperature": 0.7}  # fmt: skip
    raw = json.dumps(body).encode()
    new = add_stream_usage_option(request("openai", "/v1/chat/completions", body), raw)
    assert new is not None
    assert json.loads(new) == {
        **body,
        "stream_options": {"include_obfuscation": False, "include_usage": True},
    }
    assert list(json.loads(new)) == list(body)  # key order kept
    assert "héllo".encode() in new


@pytest.mark.parametrize(
    ("provider", "path", "body", "query"),
    [
        ("openai", "/v1/chat/completions", {"model": "m", "stream": False}, None),
        ("openai", "/v1/chat/completions", {"model": "m", "stream": True, "stream_options": {"include_usage": True}},
         None),
        ("openai", "/v1/responses", {"model": "m", "stream": True}, None),
        ("openai", "/v1/embeddings", {"model": "m", "input": "x", "stream": True}, None),
        ("mistral", "/v1/chat/completions", {"model": "m", "stream": True}, None),
        ("groq", "/openai/v1/chat/completions", {"model": "m", "stream": True}, None),
        ("azure", "/openai/deployments/d/chat/completions", {"stream": True}, {"api-version": "2024-06-01"}),
        ("anthropic", "/v1/messages", {"model": "m", "stream": True}, None),
    ],
)  # fmt: skip
def test_not_applicable(
    provider: str, path: str, body: dict[str, object], query: dict[str, str] | None
) -> None:
    assert add_stream_usage_option(request(provider, path, body, query), json.dumps(body).encode()) is None


@pytest.mark.parametrize(
    ("provider", "path", "query"),
    [
        ("azure", "/openai/deployments/d/chat/completions", {"api-version": "2024-10-21"}),
        ("azure", "/openai/v1/chat/completions", {}),
        ("deepseek", "/chat/completions", {}),
        ("xai", "/v1/chat/completions", {}),
        ("ollama", "/v1/chat/completions", {}),
        ("openai", "/v1/completions", {}),
    ],
)
def test_applicable(provider: str, path: str, query: dict[str, str]) -> None:
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": False}}
    new = add_stream_usage_option(request(provider, path, body, query), json.dumps(body).encode())
    assert new is not None and json.loads(new)["stream_options"] == {"include_usage": True}


def test_unparseable_body() -> None:
    req = LLMRequest("openai", "chat.completions", "m", stream=True)
    assert add_stream_usage_option(req, b"{broken") is None
    assert add_stream_usage_option(req, b'{"stream": true, "stream_options": "x"}') is None
