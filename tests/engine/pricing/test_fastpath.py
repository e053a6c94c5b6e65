"""The snapshot's fast path (cached per-token rates) prices exactly like genai-prices' own calc_price.

Every model of every provider in the bundled snapshot, every ModelPrice (conditional ones included), at
seeded random usages: zeros, cache reads and writes, reasoning, inconsistent counts that need clamping,
input above tier thresholds and absurd counts that must fall back to genai-prices.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest
from genai_prices import types as gp
from genai_prices.data import providers as BUNDLED_PROVIDERS

from palaryn_proxy.pricing import PriceBook, snapshot
from palaryn_proxy.pricing.snapshot import SnapshotPrice, clamped_counts, to_genai_usage
from palaryn_proxy.types import Usage

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TIMES = [datetime(2025, 1, 1, 3, 0, tzinfo=UTC), NOON, datetime(2027, 6, 1, 20, 0, tzinfo=UTC)]


def _usages() -> list[Usage]:
    rng = random.Random(20260425)
    usages = [
        Usage(),
        Usage(input_tokens=1000, output_tokens=200),
        Usage(input_tokens=250_000, output_tokens=3000, cache_read_tokens=50_000),  # above 200k tiers
        Usage(input_tokens=1_200_000, output_tokens=10, cache_write_tokens=300_000),
        Usage(input_tokens=100, output_tokens=10, cache_read_tokens=300, reasoning_tokens=20),  # clamped
        Usage(input_tokens=-5, output_tokens=-1, cache_read_tokens=-3, cache_write_tokens=7),  # clamped
        Usage(input_tokens=10**25, output_tokens=10**24, cache_read_tokens=3, reasoning_tokens=10**22),
    ]
    for _ in range(6):
        usages.append(
            Usage(
                input_tokens=rng.choice([0, rng.randint(1, 5000), rng.randint(150_000, 1_100_000)]),
                output_tokens=rng.choice([0, rng.randint(1, 70_000)]),
                cache_read_tokens=rng.choice([0, rng.randint(0, 300_000)]),
                cache_write_tokens=rng.choice([0, rng.randint(0, 100_000)]),
                reasoning_tokens=rng.choice([0, rng.randint(0, 80_000)]),
            )
        )
    return usages


USAGES = _usages()


def _genai_cost(price: SnapshotPrice, usage: Usage, at: datetime) -> Decimal | None:
    """What SnapshotPrice.cost returned before the fast path: genai-prices' calc_price."""
    try:
        return price.model.calc_price(
            to_genai_usage(usage), price.provider, genai_request_timestamp=at
        ).total_price
    except ValueError:
        return None


def _model_prices(model: gp.ModelInfo) -> list[gp.ModelPrice]:
    if isinstance(model.prices, gp.ModelPrice):
        return [model.prices]
    return [conditional.prices for conditional in model.prices]


@pytest.mark.parametrize("provider", BUNDLED_PROVIDERS, ids=lambda provider: provider.id)
def test_every_snapshot_model_costs_exactly_what_genai_prices_says(provider: gp.Provider) -> None:
    for model in provider.models:
        price = SnapshotPrice(provider, model)
        for at in TIMES:
            for usage in USAGES:
                assert price.cost(usage, at) == _genai_cost(price, usage, at), (model.id, at, usage)


@pytest.mark.parametrize("provider", BUNDLED_PROVIDERS, ids=lambda provider: provider.id)
def test_every_model_price_has_exact_rates_or_none(provider: gp.Provider) -> None:
    for model in provider.models:
        for model_price in _model_prices(model):
            rates = snapshot._rates(model_price)
            if rates is None:
                continue
            for usage in USAGES:
                counts = clamped_counts(usage)
                fast = rates.exact_total(counts)
                if fast is not None:
                    assert fast == model_price.calc_price(to_genai_usage(usage))["total_price"], (
                        model.id,
                        usage,
                    )


def test_every_untiered_price_takes_the_fast_path() -> None:
    model_prices = [mp for p in BUNDLED_PROVIDERS for m in p.models for mp in _model_prices(m)]
    tiered = [mp for mp in model_prices if any(isinstance(v, gp.TieredPrices) for v in vars(mp).values())]
    fast = [mp for mp in model_prices if snapshot._rates(mp) is not None]
    assert len(fast) == len(model_prices) - len(tiered)


def test_fast_path_does_not_call_genai_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    book = PriceBook()
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=4_000)
    assert book.cost("openai", "gpt-4o-mini", None, usage, at=NOON) == Decimal("0.0024")
    model_price = book._resolve("openai", "gpt-4o-mini", None).model.get_prices(NOON)
    cached_price, rates = snapshot._RATES_CACHE[id(model_price)]
    assert cached_price is model_price and rates is not None
    # 0.15 / 0.6 / 0.075 per million, no per-request price
    rate_values = (rates.request, rates.input, rates.output, rates.cache_read)
    assert rate_values == (0, Decimal("0.15E-6"), Decimal("0.6E-6"), Decimal("0.075E-6"))
    deepseek = book.cost("deepseek", "deepseek-chat", None, usage, at=NOON)  # conditional prices

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("genai-prices called on the fast path")

    monkeypatch.setattr(gp.ModelPrice, "calc_price", refuse)
    monkeypatch.setattr(gp.ModelInfo, "calc_price", refuse)
    assert book.cost("openai", "gpt-4o-mini", None, usage, at=NOON) == Decimal("0.0024")
    assert book.cost("deepseek", "deepseek-chat", None, usage, at=NOON) == deepseek
    assert book.worst_case_cost("openai", "gpt-4o-mini", 1000, 1000, at=NOON) == Decimal("0.00075")


@pytest.mark.parametrize(
    ("provider", "model", "usage", "expected"),
    [
        # gemini-2.5-pro above 200k: 230000 * 2.5 + 20000 * 0.25 + 2000 * 15 = 610000 per million
        (
            "gemini",
            "gemini-2.5-pro",
            Usage(input_tokens=250_000, output_tokens=2_000, cache_read_tokens=20_000),
            "0.61",
        ),
        ("gemini", "gemini-2.5-pro", Usage(input_tokens=200_000), "0.25"),  # still the base tier
        # claude-sonnet-4-5 above 200k: 200000 * 6 + 50000 * 0.6 + 1000 * 22.5 = 1252500 per million
        (
            "anthropic",
            "claude-sonnet-4-5",
            Usage(input_tokens=250_000, output_tokens=1000, cache_read_tokens=50_000),
            "1.2525",
        ),
    ],
)
def test_tiered_models_keep_their_tiers(provider: str, model: str, usage: Usage, expected: str) -> None:
    book = PriceBook()
    assert book.cost(provider, model, None, usage, at=NOON) == Decimal(expected)
    assert snapshot._rates(book._resolve(provider, model, None).model.get_prices(NOON)) is None


def test_service_tier_and_low_precision_contexts_still_match() -> None:
    price = PriceBook()._resolve("openai", "gpt-4o", None)
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200)
    assert price.cost(usage, NOON, "priority") == Decimal("0.012325")
    with localcontext(prec=6):  # totals too long for the context fall back to genai-prices' rounding
        for usage in USAGES:
            assert price.cost(usage, NOON) == _genai_cost(price, usage, NOON), usage


def test_rates_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "_RATES_MAX", 3)
    monkeypatch.setattr(snapshot, "_RATES_CACHE", {})
    for model in BUNDLED_PROVIDERS[0].models[:10]:
        for model_price in _model_prices(model):
            snapshot._rates(model_price)
            assert len(snapshot._RATES_CACHE) <= 3


def test_invalid_price_is_none_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    provider = next(p for p in BUNDLED_PROVIDERS if p.id == "openai")
    model = gp.ModelInfo(
        id="broken",
        match=gp.ClauseEquals(equals="broken"),
        prices=gp.ModelPrice(input_mtok=Decimal(-1), output_mtok=Decimal(1)),
    )
    with caplog.at_level(logging.WARNING, logger="palaryn_proxy.pricing.snapshot"):
        assert SnapshotPrice(provider, model).cost(Usage(input_tokens=10), NOON) is None
    assert "could not price openai/broken" in caplog.text
