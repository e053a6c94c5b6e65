"""Warn-once memory for unpriced models."""

from __future__ import annotations

from palaryn_proxy.pricing import UnpricedModels


def test_first_time_once_per_provider_and_model() -> None:
    seen = UnpricedModels()
    assert seen.first_time("openai", "mystery")
    assert not seen.first_time("openai", "mystery")
    assert seen.first_time("azure", "mystery")
    assert seen.first_time("openai", None)
    assert not seen.first_time("openai", None)


def test_memory_is_bounded() -> None:
    seen = UnpricedModels(limit=3)
    assert [seen.first_time("p", f"m{i}") for i in range(5)] == [True, True, True, False, False]
    assert len(seen) == 3
