"""PriceBook costs against hand-computed expectations from genai-prices' bundled snapshot (0.2.3).

Prices used (USD per million tokens, read from genai_prices/data.py and written out here on purpose):
  gpt-4o            input 2.5, cache read 1.25, output 10; priority tier 4.25 / 2.125 / 17
  gpt-4o-mini       input 0.15, cache read 0.075, output 0.6
  claude-sonnet-4-5 input 3, cache read 0.3, cache write 3.75, output 15; above 200k input: 6 / 0.6 / 7.5 / 22.5
  gemini-2.5-pro    input 1.25, cache read 0.125, output 10; above 200k input: 2.5 / 0.25 / 15
  deepseek-chat     00:30-16:30 UTC: input 0.27, cache read 0.07, output 1.1; otherwise 0.135 / 0.035 / 0.55
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from palaryn_proxy.pricing import PROVIDER_IDS, PriceBook
from palaryn_proxy.types import Usage

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVENING = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


def test_gpt_4o_prices_cache_reads_at_cache_rate(book: PriceBook) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200)
    # 800 * 2.5 + 200 * 1.25 + 500 * 10 = 7250 per million
    assert book.cost("openai", "gpt-4o-2024-08-06", "gpt-4o", usage, at=NOON) == Decimal("0.00725")


def test_falls_back_to_request_model(book: PriceBook) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200)
    assert book.cost("openai", None, "gpt-4o", usage, at=NOON) == Decimal("0.00725")
    assert book.cost("openai", "my-deployment", "gpt-4o", usage, at=NOON) == Decimal("0.00725")


def test_gpt_4o_mini(book: PriceBook) -> None:
    usage = Usage(input_tokens=10_000, output_tokens=2_000, cache_read_tokens=4_000)
    # 6000 * 0.15 + 4000 * 0.075 + 2000 * 0.6 = 2400 per million
    assert book.cost("openai", "gpt-4o-mini", None, usage, at=NOON) == Decimal("0.0024")


def test_service_tier_selects_priority_prices(book: PriceBook) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200)
    # 800 * 4.25 + 200 * 2.125 + 500 * 17 = 12325 per million
    cost = book.cost("openai", "gpt-4o", None, usage, at=NOON, service_tier="priority")
    assert cost == Decimal("0.012325")


def test_claude_sonnet_cache_write_and_read(book: PriceBook) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200, cache_write_tokens=300)
    # 500 * 3 + 200 * 0.3 + 300 * 3.75 + 500 * 15 = 10185 per million
    assert book.cost("anthropic", "claude-sonnet-4-5-20250929", None, usage, at=NOON) == Decimal("0.010185")


def test_claude_sonnet_long_context_tier(book: PriceBook) -> None:
    usage = Usage(input_tokens=250_000, output_tokens=1000, cache_read_tokens=50_000)
    # above 200k every token at the tier rate: 200000 * 6 + 50000 * 0.6 + 1000 * 22.5 = 1252500 per million
    assert book.cost("anthropic", "claude-sonnet-4-5", None, usage, at=NOON) == Decimal("1.2525")


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # 80000 * 1.25 + 20000 * 0.125 + 2000 * 10 = 122500 per million
        (Usage(input_tokens=100_000, output_tokens=2_000, cache_read_tokens=20_000), "0.1225"),
        # exactly 200k is still the base tier: 200000 * 1.25
        (Usage(input_tokens=200_000), "0.25"),
        # one token more switches every token to the tier: 200001 * 2.5
        (Usage(input_tokens=200_001), "0.5000025"),
        # 230000 * 2.5 + 20000 * 0.25 + 2000 * 15 = 610000 per million
        (Usage(input_tokens=250_000, output_tokens=2_000, cache_read_tokens=20_000), "0.61"),
        # reasoning is part of output, not extra: 1000 * 1.25 + 3000 * 10
        (Usage(input_tokens=1000, output_tokens=3000, reasoning_tokens=2500), "0.03125"),
    ],
)
def test_gemini_2_5_pro_tiers(book: PriceBook, usage: Usage, expected: str) -> None:
    assert book.cost("gemini", "gemini-2.5-pro", None, usage, at=NOON) == Decimal(expected)


@pytest.mark.parametrize(("at", "expected"), [(NOON, "0.0007"), (EVENING, "0.00035")])
def test_deepseek_cache_hits_and_time_of_day(book: PriceBook, at: datetime, expected: str) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=600)
    # noon: 400 * 0.27 + 600 * 0.07 + 500 * 1.1 = 700; evening: 400 * 0.135 + 600 * 0.035 + 500 * 0.55 = 350
    assert book.cost("deepseek", "deepseek-chat", None, usage, at=at) == Decimal(expected)


def test_unknown_model_is_unpriced(book: PriceBook) -> None:
    usage = Usage(input_tokens=1000, output_tokens=500)
    assert book.cost("openai", "no-such-model", "nor-this", usage) is None
    assert book.cost("openai", None, None, usage) is None
    assert not book.is_known("openai", "no-such-model")
    assert book.cost("unheard-of-provider", "gpt-4o", None, usage) is None


def test_ollama_is_unpriced_without_override(book: PriceBook) -> None:
    assert book.cost("ollama", "llama3.1:8b", None, Usage(input_tokens=10, output_tokens=10)) is None
    assert not book.is_known("ollama", "gpt-4o")  # even a name the snapshot knows elsewhere


def test_glob_override_prices_local_model() -> None:
    book = PriceBook({"my-llama-*": {"input_per_mtok": 0.2, "output_per_mtok": 0.6}})
    # 1000 * 0.2 + 500 * 0.6 = 500 per million
    assert book.cost(
        "ollama", "My-Llama-3-70B", None, Usage(input_tokens=1000, output_tokens=500)
    ) == Decimal("0.0005")
    assert book.is_known("ollama", "my-llama-3")


def test_override_wins_over_snapshot_and_matches_request_model() -> None:
    book = PriceBook({"gpt-4o": {"input_per_mtok": 2, "output_per_mtok": 8, "cache_read_per_mtok": "0.5"}})
    usage = Usage(input_tokens=1000, output_tokens=500, cache_read_tokens=200, cache_write_tokens=100)
    # 700 * 2 + 200 * 0.5 + 100 * 2 (no write price: input rate) + 500 * 8 = 5700 per million
    assert book.cost("openai", "gpt-4o-2024-08-06", "gpt-4o", usage, at=NOON) == Decimal("0.0057")


def test_inconsistent_usage_is_clamped_not_fatal(book: PriceBook) -> None:
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=300, reasoning_tokens=20)
    # input raised to 300 (all cached), output to 20: 300 * 1.25 + 20 * 10 = 575 per million
    assert book.cost("openai", "gpt-4o", None, usage, at=NOON) == Decimal("0.000575")


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o"),
        ("azure", "gpt-4o-mini-2024-07-18"),
        ("anthropic", "claude-3-5-haiku-20241022"),
        ("gemini", "gemini-2.5-flash"),
        ("vertex", "claude-sonnet-4-5@20250929"),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("mistral", "mistral-large-latest"),
        ("groq", "llama-3.3-70b-versatile"),
        ("deepseek", "deepseek-reasoner"),
        ("xai", "grok-4"),
        ("openrouter", "openai/gpt-4o"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("fireworks", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
        ("cohere", "command-a-03-2025"),
    ],
)
def test_every_provider_id_maps_to_the_snapshot(book: PriceBook, provider: str, model: str) -> None:
    assert book.is_known(provider, model)
    cost = book.cost(provider, model, None, Usage(input_tokens=1000, output_tokens=1000))
    assert cost is not None and cost > 0


def test_provider_table_covers_every_adapter() -> None:
    expected = {"openai", "azure", "anthropic", "gemini", "vertex", "bedrock", "mistral", "groq", "deepseek"}
    expected |= {"xai", "openrouter", "together", "fireworks", "cohere", "ollama", "perplexity"}
    assert set(PROVIDER_IDS) == expected


def test_worst_case_uses_dearer_cache_write_rate(book: PriceBook) -> None:
    # all 1000 input as 5-minute cache writes at 3.75 (dearer than 3) + 64000 default output at 15
    assert book.worst_case_cost("anthropic", "claude-sonnet-4-5", 1000, None, at=NOON) == Decimal("0.96375")


def test_worst_case_with_and_without_max_output(book: PriceBook) -> None:
    # 1000 * 2.5 + 1000 * 10
    assert book.worst_case_cost("openai", "gpt-4o", 1000, 1000, at=NOON) == Decimal("0.0125")
    # default cap for gpt-4o is 16384: 1000 * 2.5 + 16384 * 10
    assert book.worst_case_cost("openai", "gpt-4o", 1000, None, at=NOON) == Decimal("0.16634")
    assert book.worst_case_cost("openai", "no-such-model", 1000, None) is None


def test_worst_case_override_without_write_price() -> None:
    book = PriceBook({"local-*": {"input_per_mtok": 1, "output_per_mtok": 2}})
    # 100 * 1 + 16384 (default cap) * 2
    assert book.worst_case_cost("ollama", "local-qwen", 100, None) == Decimal("0.032868")
