"""Shared fixtures for the anomaly engine tests: an injectable clock and a detector factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from palaryn_proxy.anomaly import AnomalyConfig, AnomalyDetector

T0 = 1_699_999_200.0  # 2023-11-14 22:00:00 UTC, a Tuesday, on a bucket and slot boundary


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_detector(clock: FakeClock) -> Callable[..., AnomalyDetector]:
    def make(**cfg: Any) -> AnomalyDetector:
        return AnomalyDetector(AnomalyConfig.from_mapping(cfg), clock=clock)

    return make
