"""Pricing never reaches the network and ignores any price update genai-prices may have fetched."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import data_snapshot

from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.types import Usage


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args!r}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)


@pytest.fixture
def empty_custom_snapshot() -> Iterator[None]:
    """What an auto-update elsewhere in the process would install (here: a snapshot with no providers)."""
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=[], from_auto_update=True))
    yield
    data_snapshot.set_custom_snapshot(None)


def test_prices_with_network_blocked_and_no_updater_thread(no_network: None) -> None:
    book = PriceBook({"local-*": {"input_per_mtok": 1, "output_per_mtok": 1}})
    usage = Usage(input_tokens=1000, output_tokens=1000)
    for provider, model in [("openai", "gpt-4.1"), ("gemini", "gemini-2.5-flash"), ("ollama", "local-x")]:
        assert book.cost(provider, model, None, usage) is not None
    assert book.cost("openai", "never-heard-of-it", None, usage) is None
    assert not [t for t in threading.enumerate() if t.name.startswith("genai_prices")]


def test_uses_the_bundled_snapshot_not_a_custom_one(empty_custom_snapshot: None) -> None:
    # gpt-4.1: input 2, output 8 per million in the bundled data
    usage = Usage(input_tokens=1000, output_tokens=1000)
    cost = PriceBook().cost("openai", "gpt-4.1", None, usage, at=datetime(2026, 11, 25, tzinfo=UTC))
    assert cost == Decimal("0.010")
