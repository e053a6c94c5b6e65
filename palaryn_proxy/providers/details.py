"""Billed usage dimensions beyond the five token counts, read into `Usage.details` (genai-prices' key names).

Each reader takes a provider's usage object (already checked to be a dict) and returns only the keys the
provider reported with a non-zero value: cache writes by lifetime, audio / image tokens in and out, and
server-side tool uses billed per call (web searches, code executions).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from .fields import as_dict, as_list, as_str, count

Details = dict[str, int]


def put(details: Details, key: str, value: int) -> None:
    """Add `value` under `key` (summing), keeping only non-zero counts."""
    if value:
        details[key] = details.get(key, 0) + value


def openai_token_details(u: dict[str, Any], input_key: str, output_key: str) -> Details:
    """OpenAI `prompt_tokens_details` / `completion_tokens_details` (chat) or `input_tokens_details` /
    `output_tokens_details` (Responses, image generation): audio and image tokens, parts of input / output."""
    details: Details = {}
    inp, out = as_dict(u.get(input_key)), as_dict(u.get(output_key))
    put(details, "input_audio_tokens", count(inp, "audio_tokens", f"usage.{input_key}"))
    put(details, "input_image_tokens", count(inp, "image_tokens", f"usage.{input_key}"))
    put(details, "output_audio_tokens", count(out, "audio_tokens", f"usage.{output_key}"))
    put(details, "output_image_tokens", count(out, "image_tokens", f"usage.{output_key}"))
    return details


def anthropic_details(u: dict[str, Any]) -> Details:
    """Anthropic (also Bedrock InvokeModel and Claude on Vertex): `cache_creation` splits cache writes by
    lifetime (5-minute and 1-hour writes are priced differently); `server_tool_use` counts server-side
    tool calls billed per use."""
    details: Details = {}
    creation = as_dict(u.get("cache_creation"))
    put(
        details, "cache_write_5m_tokens", count(creation, "ephemeral_5m_input_tokens", "usage.cache_creation")
    )
    put(
        details, "cache_write_1h_tokens", count(creation, "ephemeral_1h_input_tokens", "usage.cache_creation")
    )
    tools = as_dict(u.get("server_tool_use"))
    put(details, "web_searches", count(tools, "web_search_requests", "usage.server_tool_use"))
    put(details, "code_executions", count(tools, "code_execution_requests", "usage.server_tool_use"))
    return details


def responses_tool_details(output: Any) -> Details:
    """Responses API output items billed per call: each `web_search_call` is one web search."""
    details: Details = {}
    for item in as_list(output):
        if as_str(as_dict(item).get("type")) == "web_search_call":
            put(details, "web_searches", 1)
    return details


_GEMINI_MODALITIES = {"AUDIO": "audio", "IMAGE": "image", "VIDEO": "video"}
_GEMINI_LISTS = (
    ("promptTokensDetails", "input_{}_tokens"),
    ("candidatesTokensDetails", "output_{}_tokens"),
    ("cacheTokensDetails", "cache_{}_read_tokens"),
)


def gemini_details(u: dict[str, Any]) -> Details:
    """Gemini usageMetadata `*TokensDetails`: per-modality parts of prompt, candidates and cache (text is
    the remainder and needs no key)."""
    details: Details = {}
    for list_key, template in _GEMINI_LISTS:
        for entry in as_list(u.get(list_key)):
            entry = as_dict(entry)
            modality = _GEMINI_MODALITIES.get(as_str(entry.get("modality")).upper())
            if modality:
                put(
                    details,
                    template.format(modality),
                    count(entry, "tokenCount", f"usageMetadata.{list_key}"),
                )
    return details


def gemini_grounding(candidates: Any) -> Details:
    """Grounding with Google Search, billed per grounded prompt: one search when a candidate's grounding
    metadata lists the queries it ran (`webSearchQueries`)."""
    for candidate in as_list(candidates):
        grounding = as_dict(as_dict(candidate).get("groundingMetadata"))
        if as_list(grounding.get("webSearchQueries")):
            return {"web_searches": 1}
    return {}


def provider_cost(value: Any) -> Decimal | None:
    """A provider-reported cost in USD (OpenRouter's `usage.cost`), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None
