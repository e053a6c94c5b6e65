"""`pricing.overrides` validation: every mistake names `pricing.overrides.<model>.<key>` and the fix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.pricing import ModelPrice, PriceBook, parse_overrides


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["gpt-4o"], r"pricing\.overrides must be a mapping"),
        ({"gpt-4o": 2.5}, r"pricing\.overrides\.gpt-4o must be a mapping with input_per_mtok"),
        (
            {"gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 2, "input_price": 3}},
            r"pricing\.overrides\.gpt-4o\.input_price is not a known key; use one of input_per_mtok",
        ),
        (
            {"gpt-4o": {"input_per_mtok": "cheap", "output_per_mtok": 2}},
            r"pricing\.overrides\.gpt-4o\.input_per_mtok must be a non-negative number .*'cheap'",
        ),
        (
            {"m": {"input_per_mtok": True, "output_per_mtok": 2}},
            r"pricing\.overrides\.m\.input_per_mtok must be",
        ),
        (
            {"m": {"input_per_mtok": 1, "output_per_mtok": -2}},
            r"pricing\.overrides\.m\.output_per_mtok must be",
        ),
        (
            {"m": {"input_per_mtok": float("nan"), "output_per_mtok": 1}},
            r"pricing\.overrides\.m\.input_per_mtok",
        ),
        ({"m": {"input_per_mtok": "inf", "output_per_mtok": 1}}, r"pricing\.overrides\.m\.input_per_mtok"),
        ({"m": {"input_per_mtok": [1], "output_per_mtok": 1}}, r"pricing\.overrides\.m\.input_per_mtok"),
        (
            {"m": {"input_per_mtok": 1, "output_per_mtok": 1, "cache_read_per_mtok": None}},
            r"pricing\.overrides\.m\.cache_read_per_mtok must be",
        ),
        ({"m": {"input_per_mtok": 1}}, r"pricing\.overrides\.m\.output_per_mtok is required .*use 0"),
        ({"": {"input_per_mtok": 1, "output_per_mtok": 1}}, r"empty or non-string model name"),
        (
            {
                "GPT-4o": {"input_per_mtok": 1, "output_per_mtok": 1},
                "gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 1},
            },
            r"pricing\.overrides\.gpt-4o is defined twice",
        ),
    ],
)
def test_invalid_overrides_name_the_key(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PriceBook(raw)


def test_values_become_exact_decimals() -> None:
    overrides = parse_overrides(
        {
            "m": {
                "input_per_mtok": 0.1,
                "output_per_mtok": "0.30",
                "cache_read_per_mtok": 0,
                "cache_write_per_mtok": 2,
            }
        }
    )
    assert overrides.match("m") == ModelPrice(Decimal("0.1"), Decimal("0.30"), Decimal(0), Decimal(2))


def test_exact_name_beats_glob_and_globs_keep_config_order() -> None:
    cheap = {"input_per_mtok": 1, "output_per_mtok": 1}
    dear = {"input_per_mtok": 9, "output_per_mtok": 9}
    overrides = parse_overrides({"llama-*": cheap, "llama-3-*": dear, "llama-3-70b": dear})
    assert overrides.match("llama-3-70b") == ModelPrice(Decimal(9), Decimal(9))
    assert overrides.match("LLAMA-3-8b") == ModelPrice(Decimal(1), Decimal(1))  # first glob in order wins
    assert overrides.match("mistral-7b") is None
    assert overrides.match(None) is None


def test_no_overrides() -> None:
    assert parse_overrides(None).match("gpt-4o") is None
    assert parse_overrides({}).match("gpt-4o") is None
