"""Usage stage engine: LLM usage (exact or estimated) and cost per request; tokens.py counts prompt tokens."""

from palaryn_proxy.usage.accountant import (
    THREAD_ESTIMATE_CHARS,
    LlmAccountant,
    estimate_usage,
    estimation_size,
    pricing_overrides,
)

__all__ = ["THREAD_ESTIMATE_CHARS", "LlmAccountant", "estimate_usage", "estimation_size", "pricing_overrides"]
