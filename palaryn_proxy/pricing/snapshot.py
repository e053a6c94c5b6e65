"""The boundary with genai-prices: provider id mapping, model lookup and price calculation, offline only.

Offline guarantee: genai-prices only touches the network through `genai_prices.UpdatePrices` (a background
thread fetching a JSON file from GitHub, started by `UpdatePrices.start()` / its context manager) and
`UpdatePrices.fetch()`. Nothing starts it implicitly: importing the package only imports its HTTP client.
This module never uses `UpdatePrices`, `calc_price()` or `get_snapshot()`; it reads the bundled
`genai_prices.data.providers` list directly, so even if some other code in the process started an updater,
our prices stay the bundled, versioned snapshot. genai-prices' own lookup cache grows without bound for
attacker-chosen model names, so lookups go through `Provider.find_model` and our callers memoise them
in a bounded LRU instead.

Usage mapping: genai-prices' usage uses the same convention as palaryn_proxy.types.Usage. Its units form a
hierarchy: `cache_read_tokens` and `cache_write_tokens` are descendants of `input_tokens` (it prices the
remainder `input - cache_read - cache_write` at the input rate) and `output_reasoning_tokens` is a
descendant of `output_tokens`. So the fields map one to one; inconsistent counts are clamped first
(input raised to at least cache_read + cache_write, output to at least reasoning) because genai-prices
rejects a part larger than its whole. Tiered prices (e.g. Gemini 2.5 Pro above 200k input tokens) are
selected by the total `input_tokens`, cached ones included, applied to every token ("cliff" tiers).
Cache writes are billed at `cache_write_mtok` (Anthropic's 5-minute rate): Usage has no 1-hour split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib.metadata import version

from genai_prices import types as gp
from genai_prices.data import providers as _BUNDLED_PROVIDERS
from genai_prices.data_snapshot import find_provider_by_id

from palaryn_proxy.types import Usage

log = logging.getLogger(__name__)

GENAI_PRICES_VERSION = version("genai-prices")

# Our provider ids (palaryn_proxy.providers) -> genai-prices provider ids. None: never priced from the
# snapshot (local models cost nothing per token; an override can still price them).
PROVIDER_IDS: dict[str, str | None] = {
    "openai": "openai",
    "azure": "azure",  # falls back to openai, anthropic, deepseek, x-ai models inside genai-prices
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex": "google",  # genai-prices' google provider covers Vertex, incl. Claude on Vertex
    "bedrock": "aws",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "openrouter": "openrouter",
    "together": "together",
    "fireworks": "fireworks",
    "cohere": "cohere",
    "ollama": None,
}


@dataclass(frozen=True, slots=True)
class SnapshotPrice:
    """A model found in the bundled snapshot, with the provider it is billed under."""

    provider: gp.Provider
    model: gp.ModelInfo

    def cost(self, usage: Usage, at: datetime, service_tier: str | None = None) -> Decimal | None:
        """Total USD for `usage` at time `at`; None if genai-prices rejects the data (logged)."""
        context = {"service_tier": service_tier} if service_tier else None
        try:
            result = self.model.calc_price(
                to_genai_usage(usage), self.provider, genai_request_timestamp=at, price_context=context
            )
        except ValueError as err:
            log.warning("genai-prices could not price %s/%s: %s", self.provider.id, self.model.id, err)
            return None
        return result.total_price


def find(provider: str, model: str | None) -> SnapshotPrice | None:
    """Look `model` up under our `provider` id; None if the provider is unpriced or the model unknown."""
    if not model:
        return None
    genai_id = PROVIDER_IDS.get(provider, provider)
    if genai_id is None:
        return None
    genai_provider = find_provider_by_id(_BUNDLED_PROVIDERS, genai_id)
    if genai_provider is None:
        return None
    found = genai_provider.find_model(model.strip(), all_providers=_BUNDLED_PROVIDERS)
    return SnapshotPrice(genai_provider, found) if found is not None else None


def to_genai_usage(usage: Usage) -> gp.Usage:
    """Map normalised usage to genai-prices' usage, clamping parts that exceed their whole."""
    cache_read = max(usage.cache_read_tokens, 0)
    cache_write = max(usage.cache_write_tokens, 0)
    reasoning = max(usage.reasoning_tokens, 0)
    return gp.Usage(
        input_tokens=max(usage.input_tokens, cache_read + cache_write),
        output_tokens=max(usage.output_tokens, reasoning),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_reasoning_tokens=reasoning,
    )
