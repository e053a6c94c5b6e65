"""Billed dimensions beyond the five counts (usage.details, service tier, provider cost), JSON and streamed,
read from real-format provider payloads, and priced exactly as genai-prices prices them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import calc_price
from genai_prices import types as gp

from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.providers import LLMResult, ProviderRegistry

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = ProviderRegistry({})
SSE, JSON, AWS = "text/event-stream", "application/json", "application/vnd.amazon.eventstream"


@dataclass(frozen=True)
class Case:
    name: str
    provider: str
    host: str
    path: str
    body: str
    content_type: str
    counts: tuple[int, int, int, int, int]  # input, output, cache read, cache write, reasoning
    details: dict[str, int]
    tier: str | None = None
    provider_cost: str | None = None
    query: dict[str, str] = field(default_factory=dict)


GEMINI = "/v1beta/models/gemini-2.5-flash:"
CASES = [
    Case("anthropic_1h_cache_web_search", "anthropic", "api.anthropic.com", "/v1/messages",
         "anthropic_cache_1h.resp.json", JSON, (2165 + 2048 + 12288, 503, 2048, 12288, 0),
         {"cache_write_5m_tokens": 4096, "cache_write_1h_tokens": 8192, "web_searches": 2}, "standard"),
    Case("anthropic_thinking_web_stream", "anthropic", "api.anthropic.com", "/v1/messages",
         "anthropic_thinking_web_stream.sse", SSE, (6410, 612, 0, 6000, 240),
         {"cache_write_1h_tokens": 6000, "web_searches": 1}, "standard"),
    Case("openai_chat_audio", "openai", "api.openai.com", "/v1/chat/completions", "openai_chat_audio.resp.json",
         JSON, (135, 94, 0, 0, 0), {"input_audio_tokens": 112, "output_audio_tokens": 76}, "default"),
    Case("openai_chat_audio_stream", "openai", "api.openai.com", "/v1/chat/completions",
         "openai_chat_audio_stream.sse", SSE, (18, 31, 0, 0, 0), {"output_audio_tokens": 25}, "default"),
    Case("openai_flex", "openai", "api.openai.com", "/v1/chat/completions", "openai_flex.resp.json", JSON,
         (1500, 420, 1024, 0, 384), {}, "flex"),
    Case("openai_responses_search", "openai", "api.openai.com", "/v1/responses",
         "openai_responses_search.resp.json", JSON, (328, 356, 0, 0, 0), {"web_searches": 2}, "priority"),
    Case("openai_responses_search_stream", "openai", "api.openai.com", "/v1/responses",
         "openai_responses_search_stream.sse", SSE, (8452, 27, 0, 0, 0), {"web_searches": 1}, "flex"),
    Case("openai_images", "openai", "api.openai.com", "/v1/images/generations", "openai_images.resp.json", JSON,
         (14, 1056, 0, 0, 0), {"output_image_tokens": 1056}),
    Case("openai_compact", "openai", "api.openai.com", "/v1/responses/compact", "openai_compact.resp.json",
         JSON, (3015, 412, 0, 0, 256), {}),
    Case("gemini_media_grounding", "gemini", "generativelanguage.googleapis.com", GEMINI + "generateContent",
         "gemini_media.resp.json", JSON, (1984, 136, 600, 0, 96),
         {"input_audio_tokens": 1600, "input_image_tokens": 254, "cache_audio_read_tokens": 600,
          "web_searches": 1}),
    Case("gemini_media_grounding_stream", "gemini", "generativelanguage.googleapis.com",
         GEMINI + "streamGenerateContent", "gemini_media_stream.sse", SSE, (1864, 12, 0, 0, 0),
         {"input_audio_tokens": 1600, "input_image_tokens": 254, "web_searches": 1}, query={"alt": "sse"}),
    Case("bedrock_profile_cache_ttl", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse", "bedrock_cache_ttl.resp.json", JSON,
         (5157, 22, 0, 5120, 0), {"cache_write_1h_tokens": 5120}),
    Case("bedrock_invoke_stream_cache_ttl", "bedrock", "bedrock-runtime.us-east-1.amazonaws.com",
         "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke-with-response-stream",
         "bedrock_invoke_cache_ttl.bin", AWS, (16736, 126, 14486, 2238, 40), {"cache_write_1h_tokens": 2238}),
    Case("perplexity_deep_research", "perplexity", "api.perplexity.ai", "/chat/completions", "perplexity.resp.json",
         JSON, (19, 2150 + 61200 + 8750, 0, 0, 61200), {"output_citation_tokens": 8750, "web_searches": 18},
         provider_cost="0.30834"),
    Case("perplexity_stream", "perplexity", "api.perplexity.ai", "/chat/completions", "perplexity_stream.sse",
         SSE, (12, 140, 0, 0, 0), {"web_searches": 1}, provider_cost="0.008136"),
    Case("openrouter_cost", "openrouter", "openrouter.ai", "/api/v1/chat/completions", "openrouter.resp.json",
         JSON, (1200, 85, 1024, 0, 0), {}, provider_cost="0.004875"),
    Case("mistral_num_cached_tokens", "mistral", "api.mistral.ai", "/v1/chat/completions",
         "mistral_cached.resp.json", JSON, (4200, 60, 4096, 0, 0), {}),
    Case("compat_top_level_reasoning", "together", "api.together.xyz", "/v1/chat/completions",
         "compat_reasoning.resp.json", JSON, (12, 140, 0, 0, 118), {}),
    Case("cohere_cached_raw_tokens", "cohere", "api.cohere.com", "/v2/chat", "cohere_cached.resp.json", JSON,
         (41, 9, 0, 0, 0), {}),
]  # fmt: skip


def result_of(case: Case, chunked: bool = False) -> LLMResult:
    body = (FIXTURES / case.body).read_bytes()
    req_body = (FIXTURES / case.body.split(".")[0]).with_suffix(".req.json").read_bytes()
    adapter = REGISTRY.resolve(case.host, 443, case.path)
    assert adapter is not None and adapter.id == case.provider
    req = adapter.parse_request("POST", case.path, case.query, {}, req_body)
    assert req is not None
    if case.content_type == JSON:
        return adapter.parse_response(req, 200, JSON, body)
    parser = adapter.stream_parser(req, case.content_type)
    assert parser is not None
    for chunk in [body[i : i + 7] for i in range(0, len(body), 7)] if chunked else [body]:
        parser.feed(chunk)
    return parser.finish()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_details_are_read(case: Case) -> None:
    result = result_of(case)
    usage = result.usage
    assert usage is not None, result.problem
    got = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens,
           usage.reasoning_tokens)  # fmt: skip
    assert got == case.counts
    assert usage.details == case.details
    assert usage.service_tier == case.tier
    assert usage.provider_cost_usd == (Decimal(case.provider_cost) if case.provider_cost else None)
    audit = usage.to_dict()
    expected_audit = dict(case.details)
    if case.tier not in (None, "default", "standard"):  # the standard tier is not repeated in the audit
        expected_audit["service_tier"] = case.tier
    if case.provider_cost:
        expected_audit["provider_cost_usd"] = case.provider_cost
    assert audit.get("details", {}) == expected_audit
    if case.content_type != JSON:
        assert result_of(case, chunked=True).usage == usage


AT = datetime(2026, 12, 8, 12, tzinfo=UTC)
PRICED = [c for c in CASES if c.provider in ("anthropic", "openai", "gemini", "bedrock", "perplexity")]
GENAI_PROVIDER = {"gemini": "google", "bedrock": "aws"}


@pytest.mark.parametrize("case", PRICED, ids=lambda c: c.name)
def test_cost_is_genai_prices_on_every_dimension(case: Case) -> None:
    result = result_of(case)
    assert result.usage is not None and result.model is not None
    inputs, outputs, read, write, reasoning = case.counts
    reference = gp.Usage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_reasoning_tokens=reasoning,
        **case.details,  # type: ignore[arg-type]
    )
    provider_id = GENAI_PROVIDER.get(case.provider, case.provider)
    context = {"service_tier": case.tier} if case.tier else None
    expected = calc_price(
        reference, result.model, provider_id=provider_id, genai_request_timestamp=AT, price_context=context
    ).total_price
    got = PriceBook().cost(case.provider, result.model, None, result.usage, at=AT, service_tier=case.tier)
    assert got == expected
    # The details change our price exactly when they change genai-prices' (so they really reach it).
    plain_reference = calc_price(
        gp.Usage(input_tokens=inputs, output_tokens=outputs, cache_read_tokens=read, cache_write_tokens=write,
                 output_reasoning_tokens=reasoning),
        result.model, provider_id=provider_id, genai_request_timestamp=AT, price_context=context,
    ).total_price  # fmt: skip
    plain = PriceBook().cost(
        case.provider, result.model, None, type(result.usage)(*case.counts), at=AT, service_tier=case.tier
    )
    assert plain == plain_reference
    assert (plain != got) == (plain_reference != expected)
    if case.name in EXTRA_PRICED:
        assert plain != got


# Cases whose extra dimensions have their own price in the snapshot (1h writes, searches, citations...).
EXTRA_PRICED = {
    "anthropic_1h_cache_web_search", "anthropic_thinking_web_stream", "openai_responses_search",
    "openai_responses_search_stream", "gemini_media_grounding", "gemini_media_grounding_stream",
    "perplexity_deep_research",
}  # fmt: skip


def test_flex_tier_is_cheaper_than_default() -> None:
    case = next(c for c in CASES if c.name == "openai_flex")
    usage = result_of(case).usage
    assert usage is not None
    book = PriceBook()
    flex = book.cost("openai", "o4-mini-2025-04-16", None, usage, at=AT, service_tier="flex")
    default = book.cost("openai", "o4-mini-2025-04-16", None, usage, at=AT)
    assert flex is not None and default is not None and flex < default


@pytest.mark.parametrize(
    ("provider", "host", "path", "name", "model", "tokens"),
    [
        ("vertex", "us-central1-aiplatform.googleapis.com",
         "/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:predict",
         "vertex_embed", "text-embedding-005", 13),
        ("cohere", "api.cohere.com", "/v2/embed", "cohere_embed", "embed-v4.0", 2),
    ],
)  # fmt: skip
def test_embeddings_report_input_tokens(
    provider: str, host: str, path: str, name: str, model: str, tokens: int
) -> None:
    adapter = REGISTRY.resolve(host, 443, path)
    assert adapter is not None and adapter.id == provider
    req = adapter.parse_request("POST", path, {}, {}, (FIXTURES / f"{name}.req.json").read_bytes())
    assert req is not None and req.model == model and req.prompt_text
    result = adapter.parse_response(req, 200, JSON, (FIXTURES / f"{name}.resp.json").read_bytes())
    assert result.usage is not None and result.problem is None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (tokens, 0)


def test_gemini_embeddings_without_usage_are_estimated_from_the_request() -> None:
    path = "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    adapter = REGISTRY.resolve("generativelanguage.googleapis.com", 443, path)
    assert adapter is not None
    req = adapter.parse_request("POST", path, {}, {}, (FIXTURES / "gemini_embed.req.json").read_bytes())
    assert req is not None and req.api == "batchEmbedContents" and req.model == "gemini-embedding-001"
    assert "meaning of life" in req.prompt_text and "brain" in req.prompt_text
    result = adapter.parse_response(req, 200, JSON, (FIXTURES / "gemini_embed.resp.json").read_bytes())
    assert result.usage is None and result.problem == "no usage in response"  # the accountant estimates it


def test_service_tier_falls_back_to_the_request() -> None:
    path = "/v1/chat/completions"
    adapter = REGISTRY.resolve("api.openai.com", 443, path)
    assert adapter is not None
    req = adapter.parse_request("POST", path, {}, {}, (FIXTURES / "openai_flex.req.json").read_bytes())
    assert req is not None and req.service_tier == "flex"
    body = json.loads((FIXTURES / "openai_flex.resp.json").read_bytes())
    del body["service_tier"]
    usage = adapter.parse_response(req, 200, JSON, json.dumps(body).encode()).usage
    assert usage is not None and usage.service_tier == "flex"
    body["service_tier"] = "default"  # the response's tier wins (flex capacity was not used)
    usage = adapter.parse_response(req, 200, JSON, json.dumps(body).encode()).usage
    assert usage is not None and usage.service_tier == "default" and "details" not in usage.to_dict()
