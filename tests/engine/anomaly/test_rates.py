"""request_rate_spike, token_rate_spike and cost_spike driven by an injected clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from palaryn_proxy.anomaly import Action, Alert, AnomalyDetector, AnomalyType, Severity

NOISY_COUNTS = [4, 5, 6, 5, 7, 4, 6, 5, 3, 6]  # requests per minute: noisy but normal


def minute_of_requests(det: AnomalyDetector, clock, count: int, actor: str = "alice", **kw) -> list[Alert]:
    """`count` requests spread evenly over the next minute; returns every alert raised."""
    alerts: list[Alert] = []
    start = clock.now
    for i in range(count):
        clock.now = start + i * 60.0 / count
        alerts += det.before_request(
            actor=actor, workspace=kw.get("workspace", "ws-" + actor), tool=kw.get("tool", "api.example.com"),
            url=f"https://api.example.com/items/{clock.now}",
        )  # fmt: skip
    clock.now = start + 60.0
    return alerts


def baseline(det: AnomalyDetector, clock, minutes: int, actor: str = "alice", **kw) -> list[Alert]:
    alerts: list[Alert] = []
    for m in range(minutes):
        alerts += minute_of_requests(det, clock, NOISY_COUNTS[m % len(NOISY_COUNTS)], actor, **kw)
    return alerts


def of(alerts: list[Alert], kind: AnomalyType, entity: str | None = None) -> list[Alert]:
    return [a for a in alerts if a.type is kind and (entity is None or a.entity == entity)]


def test_burst_after_steady_baseline_is_a_rate_spike_for_every_entity_kind(make_detector, clock) -> None:
    det = make_detector()
    assert baseline(det, clock, 40) == []
    alerts = minute_of_requests(det, clock, 80)
    spikes = of(alerts, AnomalyType.REQUEST_RATE_SPIKE)
    assert {a.entity for a in spikes} == {"actor:alice", "tool:api.example.com", "workspace:ws-alice"}
    first = of(spikes, AnomalyType.REQUEST_RATE_SPIKE, "actor:alice")[0]
    assert first.z_score is not None and first.z_score > 3.0
    assert first.baseline_mean == pytest.approx(5.1, abs=0.2)
    assert first.metric == "requests_per_minute" and first.action is Action.LOG
    assert 12 <= first.value <= 16  # fires as soon as the count is improbable, not at the end of the minute
    assert "https://" not in first.message


def test_no_rate_spike_before_min_samples(make_detector, clock) -> None:
    det = make_detector()
    assert baseline(det, clock, 9) == []  # nine completed buckets: one short of min_samples
    assert of(minute_of_requests(det, clock, 200), AnomalyType.REQUEST_RATE_SPIKE) == []
    det = make_detector(min_samples=3)
    clock.advance(7200)
    baseline(det, clock, 3)
    assert of(minute_of_requests(det, clock, 200), AnomalyType.REQUEST_RATE_SPIKE) != []


def test_idle_actor_waking_at_its_usual_pace_is_not_a_spike(make_detector, clock) -> None:
    det = make_detector()
    for _ in range(12):  # active one minute in five: idle buckets are not samples
        assert minute_of_requests(det, clock, NOISY_COUNTS[_ % 10]) == []
        clock.advance(240)
    assert minute_of_requests(det, clock, 7) == []


def test_severity_follows_the_z_score(make_detector, clock) -> None:
    det = make_detector(entities=["actor"])
    for _ in range(20):
        minute_of_requests(det, clock, 5)  # exactly 5 a minute
    alerts = of(minute_of_requests(det, clock, 40), AnomalyType.REQUEST_RATE_SPIKE)
    by_count = {int(a.value): a for a in alerts}
    assert min(by_count) == 15  # 2(sqrt(15.375) - sqrt(5.375)) = 3.21 is the first z over 3
    assert by_count[15].severity is Severity.LOW
    assert by_count[22].severity is Severity.MEDIUM and 4 <= by_count[22].z_score < 6  # type: ignore[operator]
    assert by_count[40].severity is Severity.HIGH and by_count[40].z_score >= 6  # type: ignore[operator]


def test_threshold_is_configurable(make_detector, clock) -> None:
    det = make_detector(entities=["actor"], z_score_threshold=5)
    for _ in range(20):
        minute_of_requests(det, clock, 5)
    alerts = of(minute_of_requests(det, clock, 40), AnomalyType.REQUEST_RATE_SPIKE)
    assert min(a.value for a in alerts) > 22 and all(a.z_score > 5 for a in alerts)  # type: ignore[operator]


def test_block_keeps_blocking_the_burst_and_spares_other_actors(make_detector, clock) -> None:
    det = make_detector(actions={"request_rate_spike": "block"})
    for m in range(30):
        start = clock.now
        minute_of_requests(det, clock, NOISY_COUNTS[m % 10], actor="alice")
        clock.now = start
        minute_of_requests(det, clock, NOISY_COUNTS[(m + 3) % 10], actor="bob")
    start = clock.now
    burst = minute_of_requests(det, clock, 60, actor="alice")
    clock.now = start + 30.0
    bob = minute_of_requests(det, clock, 5, actor="bob")
    actor_alerts = of(burst, AnomalyType.REQUEST_RATE_SPIKE, "actor:alice")
    assert actor_alerts and all(a.action is Action.BLOCK for a in actor_alerts)
    first_index = int(actor_alerts[0].value)
    assert len(actor_alerts) == 60 - first_index + 1  # every request after the spike is flagged for blocking
    assert [a.first for a in actor_alerts] == [True] + [False] * (len(actor_alerts) - 1)
    assert of(bob, AnomalyType.REQUEST_RATE_SPIKE, "actor:bob") == []
    assert of(bob, AnomalyType.REQUEST_RATE_SPIKE, "workspace:ws-bob") == []
    history = [a for a in det.recent_alerts(actor="alice") if a.type is AnomalyType.REQUEST_RATE_SPIKE]
    assert history == actor_alerts[:1]  # only the first alert per bucket is kept in the history


def test_switched_off_entity_kinds_and_types_are_silent(make_detector, clock) -> None:
    det = make_detector(entities=["tool"], actions={"request_rate_spike": "off"})
    baseline(det, clock, 30)
    assert minute_of_requests(det, clock, 100) == []
    det = make_detector(entities=["workspace"])
    baseline(det, clock, 30)
    assert {a.entity for a in minute_of_requests(det, clock, 100)} == {"workspace:ws-alice"}


def test_disabled_detector_returns_nothing(make_detector, clock) -> None:
    det = make_detector(enabled=False)
    baseline(det, clock, 30)
    assert minute_of_requests(det, clock, 500) == []
    assert det.after_response(actor="alice", status=500) == []
    assert det.entity_count == 0


def llm_minute(det: AnomalyDetector, clock, calls: int, tokens: int, cost: Decimal) -> list[Alert]:
    alerts: list[Alert] = []
    start = clock.now
    for i in range(calls):
        clock.now = start + i * 60.0 / calls
        kw: dict = {"actor": "agent-7", "workspace": "research", "tool": "api.openai.com"}
        det.before_request(url=f"https://api.openai.com/v1/chat/completions#{clock.now}", **kw)
        jitter = 0.8 + 0.4 * ((i * 37 + int(start)) % 11) / 10  # tokens vary by +-20%
        alerts += det.after_response(
            status=200, latency_s=1.2, tokens=int(tokens * jitter), cost_usd=cost * Decimal(str(jitter)), **kw
        )
    clock.now = start + 60.0
    return alerts


@pytest.mark.parametrize(("kind", "metric"), [(AnomalyType.TOKEN_RATE_SPIKE, "tokens_per_minute"),
                                             (AnomalyType.COST_SPIKE, "cost_per_minute")])  # fmt: skip
def test_runaway_llm_loop_is_a_token_and_cost_spike(
    make_detector, clock, kind: AnomalyType, metric: str
) -> None:
    det = make_detector()
    normal = [llm_minute(det, clock, 2 + m % 2, 1500, Decimal("0.004")) for m in range(30)]
    assert [a for minute in normal for a in minute] == []
    loop = of(llm_minute(det, clock, 40, 1500, Decimal("0.004")), kind)
    assert loop and loop[0].entity == "actor:agent-7" and loop[0].metric == metric
    assert loop[-1].severity is Severity.HIGH


def test_one_larger_llm_call_is_not_a_token_spike(make_detector, clock) -> None:
    det = make_detector()
    for m in range(30):
        llm_minute(det, clock, 2 + m % 2, 1500, Decimal("0.004"))
    alerts = llm_minute(det, clock, 1, 5000, Decimal("0.012"))
    assert of(alerts, AnomalyType.TOKEN_RATE_SPIKE) == [] and of(alerts, AnomalyType.COST_SPIKE) == []


def test_no_token_spike_before_min_samples(make_detector, clock) -> None:
    det: AnomalyDetector = make_detector()
    for _ in range(9):
        llm_minute(det, clock, 2, 1500, Decimal("0.004"))
    assert llm_minute(det, clock, 60, 1500, Decimal("0.004")) == []


def test_workspace_spike_is_blamed_on_the_actor_that_sent_most_of_it(make_detector, clock) -> None:
    det = make_detector(entities=["workspace"])
    for m in range(40):
        start = clock.now
        for actor in ("alice", "bob"):
            clock.now = start
            minute_of_requests(det, clock, NOISY_COUNTS[m % len(NOISY_COUNTS)], actor, workspace="team")
    start = clock.now
    alerts = minute_of_requests(det, clock, 60, "alice", workspace="team")
    clock.now = start
    alerts += minute_of_requests(det, clock, 4, "bob", workspace="team")
    spikes = of(alerts, AnomalyType.REQUEST_RATE_SPIKE, "workspace:team")
    assert spikes and {a.attributed_to for a in spikes} == {"alice"}
    assert spikes[0].target == "actor:alice" and spikes[0].to_dict()["attributed_to"] == "alice"


def test_a_spike_no_single_actor_explains_stays_the_workspace_own(make_detector, clock) -> None:
    det = make_detector(entities=["workspace"])
    actors = [f"agent-{i}" for i in range(4)]
    for m in range(40):
        minute_of_requests(det, clock, NOISY_COUNTS[m % len(NOISY_COUNTS)], actors[m % 4], workspace="team")
    start = clock.now
    alerts = []
    for i in range(80):  # four actors take turns: none sends half
        clock.now = start + i * 0.75
        alerts += det.before_request(actor=actors[i % 4], workspace="team", tool="t", url=f"u{i}")
    spikes = of(alerts, AnomalyType.REQUEST_RATE_SPIKE, "workspace:team")
    assert spikes and all(a.attributed_to is None and a.target == "workspace:team" for a in spikes)
