"""Every billed dimension priced: override per-unit prices, model identity (publisher paths, profile ARNs),
and the snapshot priced by genai-prices with the details and the service tier."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import calc_price
from genai_prices import types as gp

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.types import Usage

AT = datetime(2026, 12, 8, 12, tzinfo=UTC)
OVERRIDE = {
    "input_per_mtok": 2,
    "output_per_mtok": 10,
    "cache_read_per_mtok": "0.5",
    "cache_write_per_mtok": "2.5",
    "cache_write_1h_per_mtok": 4,
    "input_audio_per_mtok": 40,
    "output_audio_per_mtok": 80,
    "input_image_per_mtok": 8,
    "output_image_per_mtok": 30,
    "web_search_per_k": 10,
    "code_execution_per_k": 3,
}


def test_override_prices_every_dimension() -> None:
    book = PriceBook({"my-model": OVERRIDE})
    usage = Usage(
        input_tokens=10_000,
        output_tokens=2_000,
        cache_read_tokens=1_000,
        cache_write_tokens=3_000,
        details={
            "cache_write_1h_tokens": 1_000,
            "input_audio_tokens": 500,
            "input_image_tokens": 200,
            "output_audio_tokens": 300,
            "output_image_tokens": 100,
            "web_searches": 3,
            "code_executions": 2,
        },
    )
    uncached_text = 10_000 - 1_000 - 3_000 - 500 - 200
    expected = (
        Decimal(uncached_text * 2 + 500 * 40 + 200 * 8)
        + Decimal(1_000) * Decimal("0.5")
        + Decimal(2_000) * Decimal("2.5")
        + 1_000 * 4
        + (2_000 - 300 - 100) * 10
        + 300 * 80
        + 100 * 30
    ) / 1_000_000 + Decimal(3 * 10 + 2 * 3) / 1_000
    assert book.cost("openai_compatible", "my-model", None, usage) == expected


def test_override_parts_without_their_own_price_use_the_whole_price() -> None:
    book = PriceBook({"m": {"input_per_mtok": 1, "output_per_mtok": 2, "cache_write_per_mtok": 3}})
    with_details = Usage(1000, 100, 0, 500, details={"cache_write_1h_tokens": 500, "input_audio_tokens": 100})
    assert book.cost("x", "m", None, with_details) == book.cost("x", "m", None, Usage(1000, 100, 0, 500))


def test_unknown_override_key_lists_the_new_ones() -> None:
    with pytest.raises(ConfigError, match=r"web_search_per_k"):
        PriceBook({"m": {"input_per_mtok": 1, "output_per_mtok": 1, "web_searches_per_k": 1}})


@pytest.mark.parametrize(
    ("provider", "name", "priced_as"),
    [
        ("vertex", "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("vertex", "google/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
         "us.anthropic.claude-sonnet-4-20250514-v1:0"),
        ("bedrock", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0"),
        ("bedrock", "apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ],
)  # fmt: skip
def test_model_identity_resolves_to_the_priced_model(provider: str, name: str, priced_as: str) -> None:
    book = PriceBook()
    usage = Usage(1000, 100)
    cost = book.cost(provider, name, None, usage, at=AT)
    assert cost is not None and cost == book.cost(provider, priced_as, None, usage, at=AT)


def test_global_bedrock_profile_keeps_its_own_price() -> None:
    book = PriceBook()
    usage = Usage(1_000_000, 0)
    regional = book.cost("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", None, usage, at=AT)
    global_ = book.cost("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", None, usage, at=AT)
    assert regional is not None and global_ is not None and regional > global_


def test_snapshot_prices_details_and_tier_like_genai_prices() -> None:
    usage = Usage(20_000, 800, 2_000, 9_000, 0, details={"cache_write_1h_tokens": 6_000, "web_searches": 4})
    reference = gp.Usage(
        input_tokens=20_000,
        output_tokens=800,
        cache_read_tokens=2_000,
        cache_write_tokens=9_000,
        cache_write_1h_tokens=6_000,
        web_searches=4,
    )
    expected = calc_price(reference, "claude-sonnet-4-5", provider_id="anthropic", genai_request_timestamp=AT)
    assert PriceBook().cost("anthropic", "claude-sonnet-4-5", None, usage, at=AT) == expected.total_price
    flex = calc_price(
        gp.Usage(input_tokens=1000, output_tokens=100),
        "o4-mini",
        provider_id="openai",
        genai_request_timestamp=AT,
        price_context={"service_tier": "flex"},
    )
    got = PriceBook().cost("openai", "o4-mini", None, Usage(1000, 100), at=AT, service_tier="flex")
    assert got == flex.total_price and got < PriceBook().cost(
        "openai", "o4-mini", None, Usage(1000, 100), at=AT
    )
