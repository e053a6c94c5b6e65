"""latency_spike, unusual_payload_size and error_rate_spike driven by an injected clock."""

from __future__ import annotations

import random

from palaryn_proxy.anomaly import Alert, AnomalyDetector, AnomalyType, Severity

HOST = "api.github.com"


def call(det: AnomalyDetector, clock, actor: str = "alice", req: int = 0, resp: int = 0, latency: float = 0.2,
         status: int | None = 200) -> list[Alert]:  # fmt: skip
    clock.advance(5.0)
    kw = {"actor": actor, "workspace": "ws", "tool": HOST}
    alerts = det.before_request(method="POST", url=f"https://{HOST}/x/{clock.now}", request_bytes=req, **kw)
    clock.advance(latency)
    return alerts + det.after_response(status=status, latency_s=latency, response_bytes=resp, **kw)


def of(alerts: list[Alert], kind: AnomalyType) -> list[Alert]:
    return [a for a in alerts if a.type is kind]


def test_latency_spike_on_the_tool_only(make_detector, clock) -> None:
    det = make_detector()
    rng = random.Random(1)
    assert [a for _ in range(30) for a in call(det, clock, latency=rng.uniform(0.18, 0.26))] == []
    spike = of(call(det, clock, latency=3.0), AnomalyType.LATENCY_SPIKE)
    assert [a.entity for a in spike] == [f"tool:{HOST}"]
    assert spike[0].value == 3.0 and 0.18 < spike[0].baseline_mean < 0.26  # type: ignore[operator]
    assert spike[0].severity is Severity.HIGH and spike[0].metric == "latency_s"


def test_latency_needs_min_samples_and_a_real_jump(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(9):
        call(det, clock, latency=0.2)
    assert of(call(det, clock, latency=5.0), AnomalyType.LATENCY_SPIKE) == []  # only 9 samples before it
    det = make_detector()
    for _ in range(20):
        call(det, clock, latency=0.2)  # zero spread: the floor still asks for about a doubling
    assert of(call(det, clock, latency=0.35), AnomalyType.LATENCY_SPIKE) == []
    assert of(call(det, clock, latency=0.5), AnomalyType.LATENCY_SPIKE) != []


def test_unusual_request_and_response_sizes(make_detector, clock) -> None:
    det = make_detector()
    rng = random.Random(2)
    for _ in range(30):
        assert call(det, clock, req=rng.randint(1600, 2400), resp=rng.randint(8000, 12000)) == []
    upload = of(call(det, clock, req=5_000_000, resp=10_000), AnomalyType.UNUSUAL_PAYLOAD_SIZE)
    assert {a.entity for a in upload} == {"actor:alice", f"tool:{HOST}", "workspace:ws"}
    assert {a.metric for a in upload} == {"request_bytes"} and upload[0].value == 5_000_000
    download = of(call(det, clock, req=2000, resp=900_000), AnomalyType.UNUSUAL_PAYLOAD_SIZE)
    assert {a.metric for a in download} == {"response_bytes"} and len(download) == 3


def test_empty_bodies_and_tiny_payloads_never_alert(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(30):
        call(det, clock, req=20, resp=0)
    assert call(det, clock, req=900, resp=0) == []  # 45x larger but under min_payload_bytes
    assert of(call(det, clock, req=1500, resp=0), AnomalyType.UNUSUAL_PAYLOAD_SIZE) != []
    det = make_detector(min_payload_bytes=10_000)
    for _ in range(30):
        call(det, clock, req=20)
    assert call(det, clock, req=9_000) == []


def test_error_spike_when_a_reliable_actor_starts_failing(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(60):
        assert call(det, clock, status=200) == []
    failures = [of(call(det, clock, status=500), AnomalyType.ERROR_RATE_SPIKE) for _ in range(8)]
    assert [bool(f) for f in failures] == [False] * 4 + [True] * 4  # the fifth failure in a row alerts
    alert = failures[4][0]
    assert alert.entity == "actor:alice" and alert.metric == "error_rate"
    assert (alert.value, alert.baseline_mean, alert.severity) == (5 / 20, 0.0, Severity.LOW)
    assert failures[7][0].severity is Severity.MEDIUM


def test_error_spike_against_a_noisy_baseline_needs_more_failures(make_detector, clock) -> None:
    det = make_detector()
    for i in range(60):
        assert call(det, clock, status=503 if i in (17, 31) else 200) == []
    failures = [of(call(det, clock, status=500), AnomalyType.ERROR_RATE_SPIKE) for _ in range(9)]
    assert [bool(f) for f in failures] == [False] * 6 + [True] * 3  # baseline 2/46: the seventh alerts
    assert failures[6][0].baseline_mean == 2 / 47


def test_connection_failures_count_as_errors(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(40):
        call(det, clock)
    alerts = [a for _ in range(6) for a in call(det, clock, status=None)]
    assert of(alerts, AnomalyType.ERROR_RATE_SPIKE)


def test_no_error_spike_for_flaky_actor_or_scattered_errors(make_detector, clock) -> None:
    det = make_detector()
    for i in range(100):
        call(det, clock, actor="flaky", status=500 if i % 5 == 0 else 200)  # 20% errors is its normal
    assert [a for _ in range(10) for a in call(det, clock, actor="flaky", status=500)] == []
    for i in range(200):
        assert call(det, clock, actor="steady", status=500 if i % 12 == 0 else 200) == []


def test_no_error_spike_before_min_samples(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(5):
        call(det, clock)
    assert [a for _ in range(20) for a in call(det, clock, status=500)] == []
