"""LLM accounting: from a parsed request and response to normalised usage (exact or estimated) and cost.

The adapters (palaryn_proxy.providers) read what the provider reported; this module fills the gaps with
offline tiktoken estimates (marked `estimated`), prices the result and counts it in the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.pricing import UnpricedModels, default_max_output_tokens
from palaryn_proxy.providers.base import LLMRequest, LLMResult
from palaryn_proxy.serve.metrics import Metrics
from palaryn_proxy.types import FlowState, Reason, Usage
from palaryn_proxy.usage.tokens import count_tokens, estimate_prompt_tokens

if TYPE_CHECKING:
    from palaryn_proxy.config import Config

log = logging.getLogger("palaryn")
OTHER_MODEL = "other"  # metric label for models without a known price: keeps label values bounded
# Above this much text, estimation runs in a worker thread instead of on the event loop.
THREAD_ESTIMATE_CHARS = 50_000
MILLION = 1_000_000
RATE_CACHE_SIZE = 4096  # distinct (provider, model) pairs; the cache is bounded against junk model names
_TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")


def pricing_overrides(section: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The `pricing` section's overrides (its only key)."""
    section = section or {}
    unknown = set(section) - {"overrides"}
    if unknown:
        raise ConfigError(f"`pricing.{sorted(unknown)[0]}` is not a known key; the only key is `overrides`")
    return section.get("overrides")


def estimation_size(req: LLMRequest, result: LLMResult) -> int:
    return len(req.prompt_text) + len(result.output_text)


def prompt_tokens(req: LLMRequest) -> int:
    """The request's estimated prompt tokens, counted once per request (budgets, rate limits, estimates)."""
    if req.estimated_prompt_tokens is None:
        text = req.prompt_text
        req.estimated_prompt_tokens = (
            estimate_prompt_tokens(text, req.model, req.message_count) if text else 0
        )
    return req.estimated_prompt_tokens


def estimate_usage(req: LLMRequest, result: LLMResult) -> Usage:
    """Offline estimate of a call's usage: prompt from the request, completion from the generated text."""
    model = result.model or req.model
    return Usage(
        input_tokens=prompt_tokens(req),
        output_tokens=count_tokens(result.output_text, model) if result.output_text else 0,
        estimated=True,
    )


class LlmAccountant:
    """Built once per proxy; `settle` is called once per LLM flow when its response has ended."""

    def __init__(self, config: Config, metrics: Metrics):
        self.registry = config.sections.providers
        self.prices = config.sections.prices
        self.unpriced = UnpricedModels()
        self.metrics = metrics
        self.force_stream_usage = bool(config.force_stream_usage)
        self._rate_cache: dict[tuple[str, str | None], tuple[Decimal, Decimal] | None] = {}

    def needs_estimate(self, result: LLMResult) -> bool:
        """No usage reported, yet the call was billed: it succeeded, or broke off after generating text."""
        return result.usage is None and (result.error is None or bool(result.output_text))

    def settle(self, state: FlowState, req: LLMRequest, result: LLMResult, usage: Usage | None) -> None:
        """Record model, usage and cost on the flow and in the metrics."""
        state.model = result.model or req.model
        state.usage = usage
        state.model_tools = list(result.tool_calls)
        if result.problem and (usage is None or usage.estimated):
            state.note(Reason("usage", "estimated" if usage else "unknown", result.problem))
        provider = state.provider or req.provider
        model_label = self._model_label(provider, state.model)
        self.metrics.llm_requests.labels(provider, model_label, str(state.status or 0)).inc()
        if usage is None:
            return
        if usage.estimated:
            self.metrics.estimated.labels(provider).inc()
        counts = (
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
        )
        for kind, count in zip(_TOKEN_TYPES, counts, strict=True):
            if count:
                self.metrics.llm_tokens.labels(provider, model_label, kind).inc(count)
        for key, count in usage.details.items():
            if count and key.endswith("_tokens"):  # cache_write_1h, input_audio, ...: parts of the above
                self.metrics.llm_tokens.labels(provider, model_label, key[: -len("_tokens")]).inc(count)
        if usage.service_tier is None and req.service_tier and not usage.estimated:
            usage.service_tier = req.service_tier
        cost = self.prices.cost(
            provider, result.model, req.model, usage, service_tier=usage.service_tier or req.service_tier
        )
        state.cost_usd = cost
        if cost is None:
            self.metrics.unpriced.labels(provider).inc()
            if self.unpriced.first_time(provider, state.model):
                log.warning(
                    "no price known for %s model %r: cost_usd is null (add pricing.overrides)",
                    provider,
                    state.model,
                )
        elif cost > 0:
            self.metrics.llm_cost.labels(provider, model_label).inc(float(cost))

    def worst_case_cost(self, req: LLMRequest) -> tuple[Decimal | None, int]:
        """(worst-case cost, worst-case tokens) of a request before it goes upstream (for budgets)."""
        input_tokens = prompt_tokens(req)
        max_out = req.max_output_tokens or default_max_output_tokens(req.model)
        cost = self.prices.worst_case_cost(req.provider, req.model, input_tokens, max_out)
        return cost, input_tokens + max_out

    def estimated_tokens(self, req: LLMRequest) -> int:
        """Tokens a request is charged to rate limits before it runs: prompt estimate + its output cap."""
        prompt = prompt_tokens(req)
        return prompt + (req.max_output_tokens or 0)

    def output_allowance(self, req: LLMRequest, remaining_usd: Decimal) -> int | None:
        """How many output tokens this call may generate before its cost passes `remaining_usd`.

        None when no USD limit applies or the model has no price (nothing to enforce mid-stream).
        """
        if not remaining_usd.is_finite():
            return None
        rates = self._rates(req.provider, req.model)
        if rates is None or not rates[1]:
            return None
        input_cost = rates[0] * prompt_tokens(req) / MILLION
        return max(0, int((remaining_usd - input_cost) * MILLION / rates[1]))

    def _rates(self, provider: str, model: str | None) -> tuple[Decimal, Decimal] | None:
        """(input, output) USD per million tokens, looked up once per model (genai-prices is not cheap)."""
        key = (provider, model)
        if key not in self._rate_cache:
            input_rate = self.prices.cost(provider, model, None, Usage(input_tokens=MILLION))
            output_rate = self.prices.cost(provider, model, None, Usage(output_tokens=MILLION))
            if len(self._rate_cache) > RATE_CACHE_SIZE:
                self._rate_cache.clear()
            self._rate_cache[key] = (
                None if input_rate is None or output_rate is None else (input_rate, output_rate)
            )
        return self._rate_cache[key]

    def _model_label(self, provider: str, model: str | None) -> str:
        if model and self.prices.is_known(provider, model):
            return model
        return OTHER_MODEL
