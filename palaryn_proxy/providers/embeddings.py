"""Embedding endpoints outside the OpenAI API: Gemini / Vertex `embedContent`, `batchEmbedContents` and
Vertex `:predict` on embedding models, and Cohere `/v1|v2/embed`; input tokens only."""

from __future__ import annotations

from typing import Any

from ..types import Usage
from .base import LLMRequest, LLMResult, usage_or_problem
from .fields import as_dict, as_list, count, load_json, text_of, usage_dict

GEMINI_EMBED_APIS = frozenset({"embedContent", "batchEmbedContents", "predict"})


def embed_request(provider: str, api: str, model: str | None, body: bytes) -> LLMRequest:
    """An embeddings request: prompt text from any of the providers' input fields; no output."""
    try:
        data = as_dict(load_json(body)) if body.strip() else {}
    except ValueError:
        data = {}
    prompt = text_of(
        data.get("content"),
        data.get("requests"),
        data.get("instances"),
        data.get("texts"),
        data.get("inputs"),
    )
    return LLMRequest(
        provider=provider,
        api=api,
        model=model or (data.get("model") if isinstance(data.get("model"), str) else None),
        max_output_tokens=0,
        prompt_text=prompt,
    )


def vertex_predict_usage(raw: Any) -> Usage:
    """Vertex text-embedding `:predict`: each prediction's `embeddings.statistics.token_count` (summed)."""
    total = 0
    for i, prediction in enumerate(as_list(raw)):
        stats = as_dict(as_dict(as_dict(prediction).get("embeddings")).get("statistics"))
        total += count(stats, "token_count", f"predictions[{i}].embeddings.statistics", required=True)
    return Usage(input_tokens=total)


def gemini_embed_usage(raw: Any) -> Usage:
    """Gemini embedContent `usageMetadata`: promptTokenCount is the whole input."""
    u = usage_dict(raw, "usageMetadata")
    return Usage(input_tokens=count(u, "promptTokenCount", "usageMetadata", required=True))


def gemini_embed_result(req: LLMRequest, data: Any) -> LLMResult:
    obj = as_dict(data)
    if "usageMetadata" in obj:
        usage, problem = usage_or_problem(gemini_embed_usage, obj["usageMetadata"])
    elif obj.get("predictions") is not None:
        usage, problem = usage_or_problem(vertex_predict_usage, obj["predictions"])
    else:  # the Gemini API reports no usage for embeddings: estimated from the request
        usage, problem = None, "no usage in response"
    return LLMResult(model=req.model, usage=usage, problem=problem)


def cohere_embed_usage(raw: Any) -> Usage:
    """Cohere embed: `meta.billed_units.input_tokens` (images are billed as `images`, not tokens)."""
    meta = usage_dict(raw, "meta")
    return Usage(input_tokens=count(as_dict(meta.get("billed_units")), "input_tokens", "meta.billed_units"))


def cohere_embed_result(req: LLMRequest, data: Any) -> LLMResult:
    usage, problem = usage_or_problem(cohere_embed_usage, as_dict(data).get("meta"))
    return LLMResult(model=req.model, usage=usage, problem=problem)
