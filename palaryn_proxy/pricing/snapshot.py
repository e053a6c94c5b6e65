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
`Usage.details` (1-hour cache writes, audio / image tokens, web searches, ... under genai-prices' own key
names) are passed along as further parts, and a service tier as the price context, so one calc_price call
prices every dimension; a tier whose variant leaves the prices unchanged ("default") is priced as none.

Fast path: genai-prices' `calc_price` costs 60-250 µs a call (unit registry, validation...). Without tiers,
the price of a resolved `gp.ModelPrice` is a per-request constant plus a rate per leaf count (uncached
input, cache read, cache write, non-reasoning output, reasoning), so `_rates` derives those rates once per
ModelPrice by asking genai-prices to price a million of each leaf, checks them on two mixed usages and
caches them (conditional prices resolve to stable ModelPrice objects, so they are cached too). Tiered
prices, anything the check rejects, usage with details, `service_tier` variants, groq's whisper models (billed by audio
seconds) and non-int counts keep calling genai-prices. Results are exactly equal: rates and counts are
non-negative, so every intermediate value of either computation is a multiple of 10**`_Rates.exponent`
no larger than the total (scaled by the unit's `per` for genai-prices' products); if the total fits in
the decimal context's precision at that exponent, neither computation rounds. Otherwise (absurd token
counts) genai-prices prices it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, getcontext, localcontext
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
    "perplexity": "perplexity",
    "ollama": None,
}


@dataclass(frozen=True, slots=True)
class SnapshotPrice:
    """A model found in the bundled snapshot, with the provider it is billed under."""

    provider: gp.Provider
    model: gp.ModelInfo

    def cost(self, usage: Usage, at: datetime, service_tier: str | None = None) -> Decimal | None:
        """Total USD for `usage` at time `at`; None if genai-prices rejects the data (logged)."""
        if service_tier and not self._tier_applies(service_tier, at):
            service_tier = None  # the standard tier, or one this model has no price for: same price
        if not service_tier and not usage.details and (self.provider.id, self.model.id) not in _AUDIO_BILLED:
            rates = _rates(self.model.get_prices(at))
            total = rates.exact_total(clamped_counts(usage)) if rates is not None else None
            if total is not None:
                return total
        context = {"service_tier": service_tier} if service_tier else None
        try:
            result = self.model.calc_price(
                to_genai_usage(usage), self.provider, genai_request_timestamp=at, price_context=context
            )
        except ValueError as err:
            log.warning("genai-prices could not price %s/%s: %s", self.provider.id, self.model.id, err)
            return None
        return result.total_price

    def _tier_applies(self, service_tier: str, at: datetime) -> bool:
        """Whether the tier changes this model's prices (genai-prices ignores the context for a model found
        through another provider's list, as Azure finds OpenAI's; a "default" variant may repeat the
        standard prices)."""
        if not self.model.price_variants or not any(self.model is m for m in self.provider.models):
            return False
        standard = self.model.get_prices(at)
        return vars(self.model.get_prices(at, {"service_tier": service_tier})) != vars(standard)


# Special-cased in gp.ModelInfo.calc_price.
_AUDIO_BILLED = {("groq", "whisper-large-v3"), ("groq", "whisper-large-v3-turbo")}


@dataclass(frozen=True, slots=True)
class _Rates:
    """A gp.ModelPrice without tiers as a per-request constant plus per-token rates of the leaf counts."""

    request: Decimal
    input: Decimal  # uncached input
    output: Decimal  # non-reasoning output
    cache_read: Decimal
    cache_write: Decimal
    reasoning: Decimal
    exponent: int  # every rate is a multiple of 10**exponent

    def total(self, counts: tuple[int, int, int, int, int]) -> Decimal:
        """Price of `clamped_counts`."""
        inputs, outputs, cache_read, cache_write, reasoning = counts
        return (
            self.request
            + self.input * (inputs - cache_read - cache_write)
            + self.output * (outputs - reasoning)
            + self.cache_read * cache_read
            + self.cache_write * cache_write
            + self.reasoning * reasoning
        )

    def exact_total(self, counts: tuple[int, int, int, int, int]) -> Decimal | None:
        """`total`, or None if it might differ from genai-prices' (non-int counts, rounding: module doc)."""
        if not all(type(n) is int for n in counts):
            return None
        total = self.total(counts)
        return total if not total or total.adjusted() - self.exponent < getcontext().prec else None


_M = 1_000_000
# (input, output, cache_read, cache_write, reasoning): no tokens, then a million of each leaf, in
# _Rates field order; then usages mixing every leaf, to check the rates against genai-prices.
_PROBES = (
    (0, 0, 0, 0, 0),
    (_M, 0, 0, 0, 0),
    (0, _M, 0, 0, 0),
    (_M, 0, _M, 0, 0),
    (_M, 0, 0, _M, 0),
    (0, _M, 0, 0, _M),
)
_CHECKS = ((3_000_017, 1_234_567, 1_000_003, 999_983, 77_777), (123, 45_678, 100, 20, 45_000))
_RATES_MAX = 4096
# id(ModelPrice) -> (that ModelPrice, kept so its id stays unique, its rates or None: use genai-prices)
_RATES_CACHE: dict[int, tuple[gp.ModelPrice, _Rates | None]] = {}


def _rates(price: gp.ModelPrice) -> _Rates | None:
    """The cached rates of `price`, or None if only genai-prices can price it."""
    hit = _RATES_CACHE.get(id(price))
    if hit is not None and hit[0] is price:
        return hit[1]
    rates = _derive_rates(price)
    if len(_RATES_CACHE) >= _RATES_MAX:
        _RATES_CACHE.clear()
    _RATES_CACHE[id(price)] = (price, rates)
    return rates


def _derive_rates(price: gp.ModelPrice) -> _Rates | None:
    if any(isinstance(value, gp.TieredPrices) for value in vars(price).values()):
        return None

    def genai_total(counts: tuple[int, int, int, int, int]) -> Decimal:
        return price.calc_price(_genai_usage(counts))["total_price"]

    try:
        with localcontext(prec=100):  # exact rates whatever the caller's decimal context
            request, *leaf_totals = map(genai_total, _PROBES)
            leaf_rates = [(total - request) / _M for total in leaf_totals]
        if min(request, *leaf_rates) < 0:
            return None
        exponents = [rate.as_tuple().exponent for rate in (request, *leaf_rates) if rate]
        finite = [e for e in exponents if isinstance(e, int)]
        if len(finite) < len(exponents):  # an infinite or NaN rate (exponent "F", "n" or "N")
            return None
        input_, output, cache_read, cache_write, reasoning = leaf_rates  # in _PROBES (field) order
        rates = _Rates(request, input_, output, cache_read, cache_write, reasoning, min(finite, default=0))
        if any(rates.total(counts) != genai_total(counts) for counts in _CHECKS):
            return None
    except ValueError:
        return None
    return rates


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


def clamped_counts(usage: Usage) -> tuple[int, int, int, int, int]:
    """(input, output, cache_read, cache_write, reasoning), parts that exceed their whole clamped."""
    cache_read = max(usage.cache_read_tokens, 0)
    cache_write = max(usage.cache_write_tokens, 0)
    reasoning = max(usage.reasoning_tokens, 0)
    return (
        max(usage.input_tokens, cache_read + cache_write),
        max(usage.output_tokens, reasoning),
        cache_read,
        cache_write,
        reasoning,
    )


def to_genai_usage(usage: Usage) -> gp.Usage:
    """Map normalised usage, with its details (already under genai-prices' key names), to genai-prices'
    usage, clamping parts that exceed their whole."""
    base = _genai_usage(clamped_counts(usage))
    for key, value in usage.details.items():
        if key in GENAI_USAGE_KEYS and value:
            setattr(base, key, value)
    return base


def _usage_keys() -> frozenset[str]:
    from genai_prices.data_units import unit_data

    return frozenset(unit_data)


GENAI_USAGE_KEYS = _usage_keys()  # every usage key genai-prices prices (its unit registry)


def _genai_usage(counts: tuple[int, int, int, int, int]) -> gp.Usage:
    inputs, outputs, cache_read, cache_write, reasoning = counts
    return gp.Usage(
        input_tokens=inputs,
        output_tokens=outputs,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_reasoning_tokens=reasoning,
    )
