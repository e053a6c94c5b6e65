"""OpenAI-compatible providers: OpenAI's parsing, overriding only what each provider reports differently."""

from __future__ import annotations

from typing import Any

from ..types import Usage
from .details import provider_cost, put
from .fields import as_dict, count, usage_dict
from .openai import OpenAIAdapter, chat_usage


class DeepSeekAdapter(OpenAIAdapter):
    id = "deepseek"
    hosts = ("api.deepseek.com",)

    def chat_usage(self, raw: Any) -> Usage:
        """DeepSeek: prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens, so it already
        includes the cached part; the hit part is the cache read (prompt_tokens_details.cached_tokens
        where only that is sent). completion_tokens includes reasoning_tokens (deepseek-reasoner)."""
        usage = chat_usage(raw)
        u = usage_dict(raw, "usage")
        if u.get("prompt_cache_hit_tokens") is not None:
            usage.cache_read_tokens = count(u, "prompt_cache_hit_tokens", "usage")
        return usage


class XAIAdapter(OpenAIAdapter):
    id = "xai"
    hosts = ("api.x.ai",)

    def chat_usage(self, raw: Any) -> Usage:
        """xAI chat completions: completion_tokens EXCLUDES reasoning —
        completion_tokens_details.reasoning_tokens is reported beside it (total = prompt + completion +
        reasoning) — so output = completion + reasoning. Prompt semantics are OpenAI's. (xAI's Responses
        API follows OpenAI's convention and is not adjusted.)"""
        usage = chat_usage(raw)
        usage.output_tokens += usage.reasoning_tokens
        return usage


class PerplexityAdapter(OpenAIAdapter):
    id = "perplexity"
    hosts = ("api.perplexity.ai",)

    def chat_usage(self, raw: Any) -> Usage:
        """Perplexity (Sonar) chat completions: citation_tokens and reasoning_tokens are billed beside
        completion_tokens (as genai-prices reads them), so output = completion + reasoning + citations,
        with the citation part in details; num_search_queries counts the billed web searches."""
        usage = chat_usage(raw)
        u = usage_dict(raw, "usage")
        reasoning = count(u, "reasoning_tokens", "usage")
        citations = count(u, "citation_tokens", "usage")
        usage.reasoning_tokens = reasoning
        usage.output_tokens += reasoning + citations
        put(usage.details, "output_citation_tokens", citations)
        put(usage.details, "web_searches", count(u, "num_search_queries", "usage"))
        usage.provider_cost_usd = None  # Perplexity's `cost` is an object of parts; `total_cost` below
        if isinstance(u.get("cost"), dict):
            usage.provider_cost_usd = provider_cost(u["cost"].get("total_cost"))
        return usage


class GroqAdapter(OpenAIAdapter):
    id = "groq"
    hosts = ("api.groq.com",)

    def chunk_usage(self, chunk: dict[str, Any]) -> Any:
        """Groq streams put usage in the last chunk's `x_groq.usage` (OpenAI semantics)."""
        usage = chunk.get("usage")
        return usage if usage is not None else as_dict(chunk.get("x_groq")).get("usage")


def compat_adapters() -> list[OpenAIAdapter]:
    """Every OpenAI-compatible adapter. Usage semantics are OpenAI's unless a subclass says otherwise;
    `openai_compatible` has no default host and is meant for self-hosted servers (vLLM, LM Studio,
    llama.cpp, gateways) mapped in config."""
    return [
        OpenAIAdapter("mistral", ("api.mistral.ai", "codestral.mistral.ai")),
        GroqAdapter(),
        DeepSeekAdapter(),
        XAIAdapter(),
        PerplexityAdapter(),
        OpenAIAdapter("openrouter", ("openrouter.ai", "api.openrouter.ai")),
        OpenAIAdapter("together", ("api.together.xyz", "api.together.ai")),
        OpenAIAdapter("fireworks", ("api.fireworks.ai",)),
        OpenAIAdapter("openai_compatible", ()),
    ]
