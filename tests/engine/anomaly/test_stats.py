"""Rolling window statistics checked against brute-force recomputation over the same window."""

from __future__ import annotations

import math
import random
import statistics
from collections import deque

import pytest

from palaryn_proxy.anomaly.stats import LOG_SD_FLOOR, SLOTS, ErrorRate, Grid, RollingRate, RollingValue

GRID = Grid(bucket_seconds=60, window_seconds=3600)
SLOT_SECONDS = 3600 / SLOTS


def in_window(obs_slot: int, head: int) -> bool:
    return head - SLOTS < obs_slot <= head


def test_grid_maps_time_to_buckets_and_slots() -> None:
    assert GRID.bucket(119.9) == 1 and GRID.bucket(120.0) == 2
    assert GRID.slot(299.9) == 0 and GRID.slot(300.0) == 1
    assert GRID.slot_of_bucket(4) == 0 and GRID.slot_of_bucket(5) == 1
    odd = Grid(bucket_seconds=7, window_seconds=100)  # slots of 8.33 s, finer than buckets
    assert [odd.slot_of_bucket(b) for b in range(4)] == [odd.slot(b * 7.0) for b in range(4)]


def test_rolling_value_matches_brute_force_over_three_hours() -> None:
    rng = random.Random(11)
    stat = RollingValue()
    seen: deque[tuple[int, float]] = deque()
    t = 1_700_000_000.0
    for _ in range(3000):
        t += rng.expovariate(1 / 4.0)  # about 15 observations a minute, with idle gaps
        slot = GRID.slot(t)
        y = rng.gauss(7.0, 0.6)
        scored = stat.zscore(slot, y, min_samples=2)
        while seen and not in_window(seen[0][0], slot):
            seen.popleft()
        window = [v for _, v in seen]
        if len(window) < 2:
            assert scored is None
        else:
            assert scored is not None
            mean = statistics.fmean(window)
            sd = max(math.sqrt(math.fsum((v - mean) ** 2 for v in window) / (len(window) - 1)), LOG_SD_FLOOR)
            assert scored[1] == pytest.approx(mean, rel=1e-9)
            assert scored[0] == pytest.approx((y - mean) / sd, rel=1e-6, abs=1e-9)
        stat.add(slot, y)
        seen.append((slot, y))
    head_window = [v for s, v in seen if in_window(s, stat.head)]
    assert stat.total(0) == len(head_window)
    assert stat.total(1) == pytest.approx(math.fsum(head_window), rel=1e-12)


def test_value_window_forgets_old_observations() -> None:
    stat = RollingValue()
    for i in range(20):
        stat.add(GRID.slot(i * 10.0), 5.0)
    assert stat.zscore(GRID.slot(200.0), 5.0, min_samples=20) is not None
    assert stat.zscore(GRID.slot(3600.0 + 300.0), 5.0, min_samples=1) is None  # an hour and a slot later
    assert stat.total(0) == 0.0


def test_rolling_rate_samples_are_active_buckets() -> None:
    rng = random.Random(5)
    stat = RollingRate()
    per_bucket: dict[int, int] = {}
    t = 0.0
    for _ in range(4000):
        t += rng.choice((0.5, 2.0, 30.0, 400.0))  # bursts, steady spells and idle gaps
        bucket = GRID.bucket(t)
        stat.add(GRID, bucket, GRID.slot(t), 1.0)
        per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
        closed = [
            n for b, n in per_bucket.items() if b != bucket and in_window(GRID.slot_of_bucket(b), stat.head)
        ]
        assert stat.total(0) == len(closed)
        assert stat.total(1) == sum(closed)
        assert stat.total(2) == sum(n * n for n in closed)
        assert stat.cur == per_bucket[bucket]


def test_rate_zscore_uses_the_smaller_of_empirical_and_poisson() -> None:
    stat = RollingRate()
    for bucket in range(20):  # exactly 5 a minute: zero empirical spread
        for _ in range(5):
            stat.add(GRID, bucket, GRID.slot_of_bucket(bucket), 1.0)
    for _ in range(15):
        stat.add(GRID, 20, GRID.slot_of_bucket(20), 1.0)
    scored = stat.zscore(min_samples=10)
    assert scored is not None
    z, mean = scored
    assert mean == 5.0
    assert z == pytest.approx(2 * (math.sqrt(15.375) - math.sqrt(5.375)))  # Poisson bound, not infinity


def test_rate_unit_makes_one_large_event_less_surprising_than_many_small() -> None:
    def bucket_z(events: list[float]) -> float:
        stat = RollingRate()
        rng = random.Random(2)
        for bucket in range(30):
            for _ in range(2):
                stat.add(GRID, bucket, GRID.slot_of_bucket(bucket), rng.uniform(800, 1200))
        for q in events:
            stat.add(GRID, 30, GRID.slot_of_bucket(30), q)
        scored = stat.zscore(min_samples=10)
        return -math.inf if scored is None else scored[0]

    assert bucket_z([8000.0]) < 3.0 < bucket_z([1000.0] * 12)


def test_error_rate_baseline_excludes_recent_outcomes() -> None:
    stat = ErrorRate()
    for i in range(100):
        stat.add(0, i % 50 == 0)  # 2% errors
    for _ in range(6):
        stat.add(0, True)
    scored = stat.zscore(min_samples=10, max_baseline=0.1)
    assert scored is not None
    z, recent, base = scored
    assert recent == pytest.approx(6 / 20)
    assert base == pytest.approx(2 / 86)  # 106 responses minus the last 20, of which 6 failed
    assert z == pytest.approx(2 * (math.sqrt(6.375) - math.sqrt(base * 20 + 0.375)))


def test_error_rate_silent_for_actor_that_often_fails() -> None:
    stat = ErrorRate()
    for i in range(100):
        stat.add(0, i % 5 == 0)  # 20% errors
    for _ in range(20):
        stat.add(0, True)
    assert stat.zscore(min_samples=10, max_baseline=0.1) is None
