"""Baselines survive a restart through export/restore, and replicas' snapshots merge by addition."""

from __future__ import annotations

import json
import random

import pytest

from palaryn_proxy.anomaly import Alert, AnomalyConfig, AnomalyDetector, AnomalyType
from palaryn_proxy.errors import StorageError

T0 = 1_699_999_200.0


def traffic(dets: list[AnomalyDetector], minutes: int, seed: int = 3) -> None:
    """Steady traffic for two actors, request i going to replica i % len(dets)."""
    rng = random.Random(seed)
    i = 0
    for minute in range(minutes):
        for actor in ("alice", "bob"):
            for off in sorted(rng.uniform(0, 60) for _ in range(rng.randint(3, 8))):
                det = dets[i % len(dets)]
                i += 1
                now = T0 + minute * 60 + off
                kw = {"actor": actor, "workspace": "ws", "tool": "api.openai.com"}
                det.before_request(
                    url=f"u{rng.random()}", request_bytes=rng.randint(1500, 2500), now=now, **kw
                )
                det.after_response(
                    status=200, latency_s=rng.uniform(0.4, 0.6), response_bytes=rng.randint(5000, 7000),
                    tokens=rng.randint(900, 1100), cost_usd=0.004, now=now + 0.5, **kw,
                )  # fmt: skip


def probe(det: AnomalyDetector, minute: int) -> list[Alert]:
    """A burst with an oversized upload, a slow answer and a runaway token count."""
    alerts: list[Alert] = []
    for i in range(50):
        now = T0 + minute * 60 + i
        kw = {"actor": "alice", "workspace": "ws", "tool": "api.openai.com"}
        alerts += det.before_request(url=f"p{i}", request_bytes=400_000 if i == 0 else 2000, now=now, **kw)
        alerts += det.after_response(
            status=200, latency_s=9.0, tokens=1000, cost_usd=0.004, now=now + 0.5, **kw
        )
    return alerts


def summary(alerts: list[Alert]) -> list[tuple[str, str, str, float, float]]:
    return [(a.type.value, a.entity, a.metric, a.value, round(a.z_score or 0.0, 6)) for a in alerts]


def fresh(**cfg: object) -> AnomalyDetector:
    return AnomalyDetector(AnomalyConfig.from_mapping(cfg), clock=lambda: T0)


def test_restart_restores_the_same_baselines() -> None:
    running = fresh()
    traffic([running], 40)
    saved = json.loads(json.dumps(running.export_state()))
    restarted = fresh()
    assert restarted.restore_state(saved) == running.entity_count == 4
    expected = summary(probe(running, 40))
    assert {t for t, *_ in expected} >= {"request_rate_spike", "latency_spike", "unusual_payload_size",
                                         "token_rate_spike"}  # fmt: skip
    assert summary(probe(restarted, 40)) == expected


def test_without_restore_a_restart_has_no_baseline() -> None:
    assert probe(fresh(), 40) == []


def test_replica_snapshots_merge_into_the_pooled_baseline() -> None:
    a, b, single = fresh(), fresh(), fresh()
    traffic([a, b], 40)
    traffic([single], 40)
    merged = fresh()
    merged.restore_state(a.export_state())
    merged.restore_state(b.export_state())
    got = {(t, e, m): z for t, e, m, _, z in summary(probe(merged, 40))}
    want = {(t, e, m): z for t, e, m, _, z in summary(probe(single, 40))}
    exact = [k for k in want if k[0] in ("latency_spike", "unusual_payload_size")]
    assert {k[0] for k in exact} == {"latency_spike", "unusual_payload_size"}
    for key in exact:
        assert got[key] == pytest.approx(want[key], rel=1e-9)  # pooled observations are exact
    assert ("request_rate_spike", "actor:alice", "requests_per_minute") in got


def test_new_tool_history_survives_a_restart() -> None:
    running = fresh()
    running.before_request(actor="alice", tool="a.example", now=T0)
    running.before_request(actor="alice", tool="b.example", now=T0 + 1)
    restarted = fresh()
    restarted.restore_state(json.loads(json.dumps(running.export_state())))
    assert restarted.before_request(actor="alice", tool="a.example", now=T0 + 2) == []
    alerts = restarted.before_request(actor="alice", tool="c.example", now=T0 + 3)
    assert [a.type for a in alerts] == [AnomalyType.NEW_TOOL_USAGE]


def test_snapshot_from_another_grid_is_ignored() -> None:
    running = fresh()
    traffic([running], 12)
    other = fresh(window_seconds=7200)
    assert other.restore_state(running.export_state()) == 0
    assert other.entity_count == 0


@pytest.mark.parametrize(
    "data",
    [
        {"version": 99},
        [],
        {"version": 1, "window_seconds": 3600, "bucket_seconds": 60, "slots": 12, "entities": "x"},
        {"version": 1, "window_seconds": 3600, "bucket_seconds": 60, "slots": 12,
         "entities": [{"kind": "actor", "name": "a", "requests": {"head": 1, "ring": [0.0]}}]},
        {"version": 1, "window_seconds": 3600, "bucket_seconds": 60, "slots": 12, "entities": [{"kind": "actor"}]},
        {"version": 1, "window_seconds": 3600, "bucket_seconds": 60, "slots": 12, "entities": [],
         "tool_pairs": [["only-one"]]},
    ],
)  # fmt: skip
def test_malformed_snapshot_is_a_storage_error(data: object) -> None:
    with pytest.raises(StorageError, match="delete"):
        fresh().restore_state(data)  # type: ignore[arg-type]
