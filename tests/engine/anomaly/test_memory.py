"""Bounded memory: every table stays under its cap however many distinct actors, tools and URLs arrive."""

from __future__ import annotations

import gc
import tracemalloc

from palaryn_proxy.anomaly import AnomalyConfig, AnomalyDetector, AnomalyType
from palaryn_proxy.anomaly.entities import TOOLS_PER_ENTITY

T0 = 1_699_999_200.0


def drive(det: AnomalyDetector, first: int, last: int) -> None:
    for i in range(first, last):
        kw = {"actor": f"actor-{i}", "workspace": f"ws-{i % 50}", "tool": f"host-{i % 3000}.example"}
        now = T0 + i * 0.01
        det.before_request(url=f"https://h/{i}", request_bytes=2000, capability="write", now=now, **kw)
        det.after_response(
            status=200, latency_s=0.1, response_bytes=5000, tokens=100, cost_usd=0.001, now=now, **kw
        )


def test_hundred_thousand_actors_stay_under_the_cap() -> None:
    det = AnomalyDetector(AnomalyConfig.from_mapping({"max_entities": 2000, "max_alerts": 100}))
    drive(det, 0, 100_000)
    sizes = det.tracked_items
    assert sizes["entities"] == 2000
    assert sizes["tool_pairs"] <= 2000 * TOOLS_PER_ENTITY
    assert sizes["fingerprints"] <= 2000
    assert sizes["alerts"] <= 100
    assert sizes["evictions"] >= 100_000 - 2000


def test_memory_stops_growing_once_the_cap_is_reached() -> None:
    det = AnomalyDetector(AnomalyConfig.from_mapping({"max_entities": 500}))
    drive(det, 0, 4500)  # past every cap, the (actor, tool) table's 4000 included
    tracemalloc.start()  # objects made before this are untracked, so first replace all of them
    try:
        drive(det, 4500, 9000)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        drive(det, 9000, 13500)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert abs(after - before) < 50_000  # 4500 more actors, no growth beyond noise
    assert before < 4_000_000


def test_evicted_actor_starts_a_fresh_baseline() -> None:
    det = AnomalyDetector(AnomalyConfig.from_mapping({"max_entities": 3}))
    det.before_request(actor="old", tool="a", now=T0)
    for name in ("x", "y", "z"):
        det.before_request(actor=name, now=T0 + 1)
    assert det.before_request(actor="old", tool="b", now=T0 + 2) == []  # forgotten: its first tool again
    alerts = det.before_request(actor="old", tool="c", now=T0 + 3)
    assert [a.type for a in alerts] == [AnomalyType.NEW_TOOL_USAGE]
