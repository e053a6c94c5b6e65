"""Every adapter against realistic provider payloads: request parsing, exact normalised usage, streams
fed whole, byte by byte and in random chunks."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from palaryn_proxy.providers import LLMRequest, LLMResult, ProviderRegistry
from palaryn_proxy.types import Usage

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = ProviderRegistry({"openai_compatible": ["localhost:8000"]})
SSE, NDJSON, JSON, AWS = (
    "text/event-stream",
    "application/x-ndjson",
    "application/json",
    "application/vnd.amazon.eventstream",
)


@dataclass(frozen=True)
class Case:
    name: str
    provider: str
    host: str
    path: str
    body: str  # response fixture file
    content_type: str
    # input, output, cache read, cache write, reasoning[, estimated, details, tier, provider cost]: Usage's
    # positional fields (tests/e2e/test_llm_usage.py builds the expected audit usage from them too).
    usage: tuple[Any, ...] | None
    model: str | None
    api: str
    port: int = 443
    query: dict[str, str] = field(default_factory=dict)
    tools: tuple[str, ...] = ()
    text: str | None = None  # expected output_text, when checked
    problem: str | None = None

    @property
    def stream(self) -> bool:
        return self.content_type != JSON or self.body.endswith("array.json")


CASES = [
    Case("openai_chat", "openai", "api.openai.com", "/v1/chat/completions", "openai_chat.resp.json", JSON,
         (2006, 18, 1920, 0, 0), "gpt-4o-2024-08-06", "chat.completions", tools=("get_weather",),
         text='{"location":"Paris, France"}'),
    Case("openai_chat_reasoning", "openai", "api.openai.com", "/v1/chat/completions",
         "openai_chat_reasoning.resp.json", JSON, (75, 1186, 0, 0, 1024), "o3-mini-2025-01-31", "chat.completions"),
    Case("openai_chat_stream", "openai", "api.openai.com", "/v1/chat/completions", "openai_chat_stream.sse", SSE,
         (14, 16, 0, 0, 0), "gpt-4o-mini-2024-07-18", "chat.completions",
         text="Hello (English), Bonjour (French), Hola (Spanish)."),
    Case("openai_chat_tools_stream", "openai", "api.openai.com", "/v1/chat/completions",
         "openai_chat_tools_stream.sse", SSE, None, "gpt-4.1-2025-04-14", "chat.completions",
         tools=("get_current_weather", "get_current_weather"),
         text='{"location": "Boston, MA"}{"location": "Tokyo, JP"}', problem="no usage in stream"),
    Case("openai_responses", "openai", "api.openai.com", "/v1/responses", "openai_responses.resp.json", JSON,
         (81, 1035, 64, 0, 832), "o4-mini-2025-04-16", "responses"),
    Case("openai_responses_stream", "openai", "api.openai.com", "/v1/responses", "openai_responses_stream.sse",
         SSE, (291, 23, 0, 0, 0), "gpt-4.1-2025-04-14", "responses", tools=("get_weather",),
         text='{"location":"Paris, France"}Hi there!'),
    Case("openai_completions", "openai", "api.openai.com", "/v1/completions", "openai_completions.resp.json",
         JSON, (5, 7, 0, 0, 0), "gpt-3.5-turbo-instruct", "completions", text="\n\nThis is indeed a test"),
    Case("openai_completions_stream", "openai", "api.openai.com", "/v1/completions",
         "openai_completions_stream.sse", SSE, (5, 7, 0, 0, 0), "gpt-3.5-turbo-instruct", "completions",
         text="\n\nThis is a test."),
    Case("openai_embeddings", "openai", "api.openai.com", "/v1/embeddings", "openai_embeddings.resp.json", JSON,
         (16, 0, 0, 0, 0), "text-embedding-3-small", "embeddings"),
    Case("azure_chat", "azure", "contoso.openai.azure.com", "/openai/deployments/gpt4o-prod/chat/completions",
         "azure_chat.resp.json", JSON, (1280, 16, 1152, 0, 0), "gpt-4o-2024-08-06", "chat.completions",
         query={"api-version": "2024-10-21"}),
    Case("azure_chat_stream", "azure", "contoso.openai.azure.com", "/openai/deployments/mini/chat/completions",
         "azure_chat_stream.sse", SSE, (11, 7, 0, 0, 0), "gpt-4o-mini-2024-07-18", "chat.completions",
         query={"api-version": "2024-10-21"}, text="1, 2, 3."),
    Case("anthropic", "anthropic", "api.anthropic.com", "/v1/messages", "anthropic.resp.json", JSON,
         (188107, 393, 0, 188086, 0, False, {"cache_write_5m_tokens": 188086}), "claude-sonnet-4-20250514", "messages"),
    Case("anthropic_tools", "anthropic", "api.anthropic.com", "/v1/messages", "anthropic_tools.resp.json", JSON,
         (2460, 157, 2048, 0, 0), "claude-opus-4-1-20250805", "messages", tools=("get_weather",)),
    Case("anthropic_stream", "anthropic", "api.anthropic.com", "/v1/messages?beta=true", "anthropic_stream.sse",
         SSE, (1472, 89, 1000, 0, 0), "claude-sonnet-4-5-20250929", "messages", tools=("get_weather",),
         text='Okay, let\'s check the weather for San Francisco, CA:{"location": "San Francisco, CA"}'),
    Case("anthropic_thinking_stream", "anthropic", "api.anthropic.com", "/v1/messages",
         "anthropic_thinking_stream.sse", SSE, (1072, 358, 0, 1024, 0), "claude-sonnet-4-20250514", "messages"),
    Case("gemini", "gemini", "generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent",
         "gemini.resp.json", JSON, (2130, 1528, 2048, 0, 1216, False, {"input_image_tokens": 258}), "gemini-2.5-flash",
         "generateContent"),
    Case("gemini_sse", "gemini", "generativelanguage.googleapis.com",
         "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", "gemini_sse.sse", SSE,
         (9, 34, 0, 0, 0), "gemini-2.0-flash", "streamGenerateContent", query={"alt": "sse"}),
    Case("gemini_array", "gemini", "generativelanguage.googleapis.com",
         "/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini_array.json", JSON,
         (52, 257, 0, 0, 219), "gemini-2.5-pro", "streamGenerateContent", tools=("get_weather",)),
    Case("vertex", "vertex", "us-central1-aiplatform.googleapis.com",
         "/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash-001:generateContent",
         "vertex.resp.json", JSON, (267, 17, 0, 0, 0, False, {"web_searches": 1}), "gemini-2.0-flash-001", "generateContent"),
    Case("vertex_stream", "vertex", "aiplatform.googleapis.com",
         "/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
         "vertex_stream.sse", SSE, (7, 112, 0, 0, 100), "gemini-2.5-flash", "streamGenerateContent",
         query={"alt": "sse"}),
    Case("bedrock", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse", "bedrock.resp.json", JSON,
         (1820, 61, 1536, 0, 0), "anthropic.claude-3-5-sonnet-20241022-v2:0", "converse", tools=("get_weather",)),
    Case("bedrock_stream", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/us.amazon.nova-pro-v1%3A0/converse-stream", "bedrock_stream.bin", AWS, (1042, 26, 0, 1024, 0),
         "us.amazon.nova-pro-v1:0", "converse_stream",
         text="Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."),
    Case("bedrock_invoke", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke", "bedrock_invoke.resp.json", JSON,
         (14498, 71, 14486, 0, 0), "us.anthropic.claude-sonnet-4-20250514-v1:0", "invoke", tools=("Bash",)),
    Case("bedrock_invoke_stream", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke-with-response-stream",
         "bedrock_invoke_stream.bin", AWS, (16736, 126, 14486, 2238, 0),
         "us.anthropic.claude-sonnet-4-20250514-v1:0", "invoke_stream", tools=("Bash",),
         text='I\'ll list the files.{"command": "ls -la"}'),
    Case("vertex_claude_stream", "vertex", "us-central1-aiplatform.googleapis.com",
         "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict",
         "vertex_claude_stream.sse", SSE, (16, 31, 0, 0, 0), "claude-sonnet-4-20250514", "messages"),
    Case("mistral", "mistral", "api.mistral.ai", "/v1/chat/completions", "mistral.resp.json", JSON,
         (16, 34, 0, 0, 0), "mistral-small-latest", "chat.completions"),
    Case("mistral_stream", "mistral", "api.mistral.ai", "/v1/chat/completions", "mistral_stream.sse", SSE,
         (10, 7, 0, 0, 0), "mistral-large-latest", "chat.completions", text="The Seine and the Loire."),
    Case("groq", "groq", "api.groq.com", "/openai/v1/chat/completions", "groq.resp.json", JSON,
         (18, 556, 0, 0, 0), "llama-3.3-70b-versatile", "chat.completions"),
    Case("groq_stream", "groq", "api.groq.com", "/openai/v1/chat/completions", "groq_stream.sse", SSE,
         (39, 3, 0, 0, 0), "llama-3.1-8b-instant", "chat.completions"),
    Case("deepseek", "deepseek", "api.deepseek.com", "/chat/completions", "deepseek.resp.json", JSON,
         (77, 338, 64, 0, 265), "deepseek-reasoner", "chat.completions"),
    Case("deepseek_stream", "deepseek", "api.deepseek.com", "/v1/chat/completions", "deepseek_stream.sse", SSE,
         (10, 9, 0, 0, 0), "deepseek-chat", "chat.completions"),
    Case("xai", "xai", "api.x.ai", "/v1/chat/completions", "xai.resp.json", JSON, (32, 103, 6, 0, 94),
         "grok-4-0709", "chat.completions"),
    Case("xai_stream", "xai", "api.x.ai", "/v1/chat/completions", "xai_stream.sse", SSE, (14, 238, 0, 0, 232),
         "grok-3-mini", "chat.completions"),
    Case("openrouter", "openrouter", "openrouter.ai", "/api/v1/chat/completions", "openrouter.resp.json", JSON,
         (1200, 85, 1024, 0, 0, False, {}, None, Decimal("0.004875")),
         "anthropic/claude-3.5-sonnet", "chat.completions"),
    Case("openrouter_stream", "openrouter", "openrouter.ai", "/api/v1/chat/completions", "openrouter_stream.sse",
         SSE, (8, 9, 0, 0, 0, False, {}, None, Decimal("0.00011")), "openai/gpt-4o", "chat.completions", text="Hi! How can I help?"),
    Case("together", "together", "api.together.xyz", "/v1/chat/completions", "together.resp.json", JSON,
         (47, 19, 0, 0, 0), "meta-llama/Llama-3.3-70B-Instruct-Turbo", "chat.completions"),
    Case("together_stream", "together", "api.together.xyz", "/v1/chat/completions", "together_stream.sse", SSE,
         (38, 3, 0, 0, 0), "meta-llama/Llama-3.3-70B-Instruct-Turbo", "chat.completions", text="Hi there!"),
    Case("fireworks", "fireworks", "api.fireworks.ai", "/inference/v1/chat/completions", "fireworks.resp.json",
         JSON, (18, 6, 0, 0, 0), "accounts/fireworks/models/llama-v3p1-8b-instruct", "chat.completions"),
    Case("fireworks_stream", "fireworks", "api.fireworks.ai", "/inference/v1/chat/completions",
         "fireworks_stream.sse", SSE, (9, 12, 0, 0, 0), "accounts/fireworks/models/deepseek-r1", "chat.completions"),
    Case("vllm_stream", "openai_compatible", "localhost", "/v1/chat/completions", "vllm_stream.sse", SSE,
         (25, 3, 0, 0, 0), "Qwen/Qwen2.5-7B-Instruct", "chat.completions", port=8000, text="Rome."),
    Case("cohere", "cohere", "api.cohere.com", "/v2/chat", "cohere.resp.json", JSON, (5, 418, 0, 0, 0),
         "command-a-03-2025", "cohere.chat"),
    Case("cohere_stream", "cohere", "api.cohere.com", "/v2/chat", "cohere_stream.sse", SSE, (37, 28, 0, 0, 0),
         "command-r-plus-08-2024", "cohere.chat", tools=("query_daily_sales_report",)),
    Case("ollama_chat", "ollama", "localhost", "/api/chat", "ollama_chat.resp.json", JSON, (26, 298, 0, 0, 0),
         "llama3.2", "ollama.chat", port=11434, text="Hello! How are you today?"),
    Case("ollama_chat_stream", "ollama", "127.0.0.1", "/api/chat", "ollama_chat_stream.ndjson", NDJSON,
         (173, 51, 0, 0, 0), "qwen3", "ollama.chat", port=11434, tools=("get_current_weather",)),
    Case("ollama_generate_stream", "ollama", "gpu-box.lan", "/api/generate", "ollama_generate_stream.ndjson",
         NDJSON, (26, 259, 0, 0, 0), "llama3.2", "ollama.generate", port=11434, text="The sky scatters blue light."),
    Case("ollama_openai", "ollama", "localhost", "/v1/chat/completions", "ollama_openai.resp.json", JSON,
         (30, 6, 0, 0, 0), "llama3.2", "chat.completions", port=11434),
]  # fmt: skip
STREAM_CASES = [c for c in CASES if c.stream]


def request_body(case: Case) -> bytes:
    return (FIXTURES / case.body.split(".")[0]).with_suffix(".req.json").read_bytes()


def parse(case: Case) -> LLMRequest:
    adapter = REGISTRY.resolve(case.host, case.port, case.path)
    assert adapter is not None and adapter.id == case.provider
    req = adapter.parse_request("POST", case.path, case.query, {"content-type": JSON}, request_body(case))
    assert req is not None
    return req


def stream_result(case: Case, chunks: list[bytes]) -> LLMResult:
    req = parse(case)
    parser = REGISTRY.adapter(case.provider).stream_parser(req, case.content_type)
    assert parser is not None
    for chunk in chunks:
        parser.feed(chunk)
    return parser.finish()


def random_chunks(data: bytes, seed: int) -> list[bytes]:
    rng, out, i = random.Random(seed), [], 0
    while i < len(data):
        size = rng.choice((1, 2, 3, 7, 16, 64, 333, 4096))
        out.append(data[i : i + size])
        i += size
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_request_is_recognised(case: Case) -> None:
    req = parse(case)
    assert (req.provider, req.api, req.stream) == (case.provider, case.api, case.stream)
    assert req.prompt_text  # every fixture request carries prompt text
    assert "base64" not in req.prompt_text and "/9j/" not in req.prompt_text  # media is not prompt text
    if case.stream:
        assert req.stream_shape in ("sse", "ndjson", "json_array", "eventstream")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_exact_usage(case: Case) -> None:
    body = (FIXTURES / case.body).read_bytes()
    req = parse(case)
    if case.stream:
        result = stream_result(case, [body])
    else:
        result = REGISTRY.adapter(case.provider).parse_response(req, 200, case.content_type, body)
    expected = None if case.usage is None else Usage(*case.usage)
    # As the audit record shows it (the standard service tier, kept for pricing, is not shown).
    assert (result.usage and result.usage.to_dict()) == (expected and expected.to_dict())
    assert result.model == case.model
    assert tuple(result.tool_calls) == case.tools
    assert result.problem == case.problem
    if case.text is not None:
        assert result.output_text == case.text
    assert result.error is None


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda c: c.name)
def test_stream_chunking_does_not_matter(case: Case) -> None:
    body = (FIXTURES / case.body).read_bytes()
    whole = stream_result(case, [body])
    assert stream_result(case, [body[i : i + 1] for i in range(len(body))]) == whole
    for seed in range(3):
        assert stream_result(case, random_chunks(body, seed)) == whole


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda c: c.name)
def test_buffered_stream_reads_like_streamed(case: Case) -> None:
    """A stream the proxy buffered after all (no streaming, stream_large_bodies) parses the same."""
    body = (FIXTURES / case.body).read_bytes()
    req = parse(case)
    buffered = REGISTRY.adapter(case.provider).parse_response(req, 200, case.content_type, body)
    assert buffered == stream_result(case, [body])


def test_request_fields() -> None:
    by_name = {c.name: parse(c) for c in CASES}
    assert by_name["openai_chat"].model == "gpt-4o"
    assert by_name["openai_chat"].max_output_tokens == 512
    assert "What's the weather like in Paris today?" in by_name["openai_chat"].prompt_text
    assert "Get the current weather for a location" in by_name["openai_chat"].prompt_text
    assert by_name["openai_responses"].max_output_tokens == 2048
    assert "careful math tutor" in by_name["openai_responses"].prompt_text
    azure = by_name["azure_chat"]
    assert (azure.model, azure.deployment, azure.api_version) == ("gpt4o-prod", "gpt4o-prod", "2024-10-21")
    assert by_name["anthropic"].max_output_tokens == 1024
    assert "analyzing literary works" in by_name["anthropic"].prompt_text
    assert by_name["gemini"].max_output_tokens == 8192
    assert by_name["gemini_sse"].stream_shape == "sse"
    assert by_name["gemini_array"].stream_shape == "json_array"
    assert by_name["bedrock"].max_output_tokens == 2000
    assert "Weather forecast for a city" in by_name["bedrock"].prompt_text
    assert by_name["ollama_chat"].stream is False and by_name["ollama_chat"].max_output_tokens == 128
    assert by_name["ollama_chat_stream"].stream is True  # Ollama streams unless told not to
    assert by_name["ollama_generate_stream"].prompt_text == "Answer in one sentence.\nWhy is the sky blue?"
    assert by_name["cohere"].max_output_tokens == 500
    assert by_name["bedrock_invoke"].max_output_tokens == 4096
    assert "Executes a given bash command" in by_name["bedrock_invoke"].prompt_text
    assert by_name["vertex_claude_stream"].model == "claude-sonnet-4@20250514"


@pytest.mark.parametrize(
    ("host", "port", "method", "path"),
    [
        ("api.openai.com", 443, "GET", "/v1/models"),
        ("api.openai.com", 443, "GET", "/v1/chat/completions/chatcmpl-123"),
        ("api.openai.com", 443, "POST", "/v1/files"),
        ("api.anthropic.com", 443, "POST", "/v1/messages/count_tokens"),
        ("api.anthropic.com", 443, "POST", "/v1/messages/batches"),
        ("generativelanguage.googleapis.com", 443, "POST", "/v1beta/models/gemini-2.0-flash:countTokens"),
        ("generativelanguage.googleapis.com", 443, "GET", "/v1beta/models"),
        ("bedrock-runtime.us-east-1.amazonaws.com", 443, "GET", "/model/amazon.nova-lite-v1:0/converse"),
        ("localhost", 11434, "GET", "/api/tags"),
        ("localhost", 11434, "POST", "/api/pull"),
        ("api.cohere.com", 443, "POST", "/v2/rerank"),
    ],
)
def test_non_llm_paths_are_not_llm_calls(host: str, port: int, method: str, path: str) -> None:
    adapter = REGISTRY.resolve(host, port, path)
    assert adapter is not None
    assert adapter.parse_request(method, path, {}, {}, b"{}") is None


def test_openai_compatible_surfaces_of_native_adapters() -> None:
    gemini = REGISTRY.adapter("gemini")
    req = gemini.parse_request(
        "POST", "/v1beta/openai/chat/completions", {}, {}, b'{"model":"gemini-2.0-flash"}'
    )
    assert req is not None and (req.provider, req.api, req.model) == (
        "gemini",
        "chat.completions",
        "gemini-2.0-flash",
    )
    assert gemini.style_for(req) == "openai" and gemini.error_style == "gemini"
    cohere = REGISTRY.adapter("cohere")
    req = cohere.parse_request(
        "POST", "/compatibility/v1/chat/completions", {}, {}, b'{"model":"command-a-03-2025"}'
    )
    assert req is not None and req.api == "chat.completions"
