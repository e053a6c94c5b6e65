"""PriceBook: the cost of one LLM call from overrides first, then the bundled genai-prices snapshot.

Which model prices a call: the model the response names, falling back to the one the request asked for
(a response may name a dated snapshot, or nothing at all). Overrides win over the snapshot and match
either name, so a negotiated "gpt-4o" price also covers a response naming "gpt-4o-2024-08-06".
Local providers (ollama) are unpriced (None) unless an override names the model: "free" would hide
real costs such as a self-hosted GPU, so the operator says what a token costs.
Resolution is memoised per (provider, response model, request model) in a bounded LRU, so the
per-request cost is a dict hit plus the snapshot's cached per-token rates (see pricing.snapshot).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from palaryn_proxy.pricing.identity import model_names
from palaryn_proxy.pricing.limits import default_max_output_tokens
from palaryn_proxy.pricing.overrides import ModelPrice, parse_overrides
from palaryn_proxy.pricing.snapshot import SnapshotPrice, find
from palaryn_proxy.types import Usage

_CACHE_SIZE = 4096


class PriceBook:
    """Prices LLM usage in USD; construct once at configure time (validates `pricing.overrides`)."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._overrides = parse_overrides(overrides)
        self._resolve = functools.lru_cache(maxsize=_CACHE_SIZE)(self._resolve_uncached)
        self._find = functools.lru_cache(maxsize=_CACHE_SIZE)(find)

    def cost(
        self,
        provider: str,
        model_from_response: str | None,
        model_from_request: str | None,
        usage: Usage,
        *,
        at: datetime | None = None,
        service_tier: str | None = None,
    ) -> Decimal | None:
        """USD cost of `usage`, or None when no override or snapshot entry prices the model.

        `at` (default now) selects time-dependent prices (DeepSeek off-peak, announced price changes);
        `service_tier` is the tier the response reports (OpenAI "flex", "priority"...), if any.
        """
        price = self._resolve(provider, model_from_response, model_from_request)
        return _price(price, usage, at, service_tier) if price is not None else None

    def is_known(self, provider: str, model: str | None) -> bool:
        """Whether a call to `model` on `provider` would get a price."""
        return self._resolve(provider, model, None) is not None

    def worst_case_cost(
        self,
        provider: str,
        model: str | None,
        input_tokens: int,
        max_output_tokens: int | None,
        *,
        at: datetime | None = None,
    ) -> Decimal | None:
        """Most a call can cost: all input billed at the dearer of the input and cache-write rates, and
        `max_output_tokens` (or the model's default cap) of output. None if the model is unpriced."""
        price = self._resolve(provider, model, None)
        if price is None:
            return None
        output = max_output_tokens if max_output_tokens is not None else default_max_output_tokens(model)
        at = at or datetime.now(UTC)
        plain = Usage(input_tokens=input_tokens, output_tokens=output)
        written = Usage(input_tokens=input_tokens, output_tokens=output, cache_write_tokens=input_tokens)
        known = [c for u in (plain, written) if (c := _price(price, u, at, None)) is not None]
        return max(known) if known else None

    def _resolve_uncached(
        self, provider: str, response_model: str | None, request_model: str | None
    ) -> ModelPrice | SnapshotPrice | None:
        for model in (response_model, request_model):
            override = self._overrides.match(model)
            if override is not None:
                return override
        for model in (response_model, request_model):
            for name in model_names(provider, model) if model else ():
                found = self._find(provider, name)
                if found is not None:
                    return found
        return None


def _price(
    price: ModelPrice | SnapshotPrice, usage: Usage, at: datetime | None, service_tier: str | None
) -> Decimal | None:
    if isinstance(price, ModelPrice):
        return price.cost(usage)
    return price.cost(usage, at or datetime.now(UTC), service_tier)
