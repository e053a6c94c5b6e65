"""new_tool_usage, capability_escalation, off_hours_activity and repeated_request."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from palaryn_proxy.anomaly import Action, Alert, AnomalyDetector, AnomalyType, Severity

WARSAW = ZoneInfo("Europe/Warsaw")
HOURS = {
    "timezone": "Europe/Warsaw",
    "start": "09:00",
    "end": "17:00",
    "days": ["mon", "tue", "wed", "thu", "fri"],
}


def req(det: AnomalyDetector, clock, actor: str = "alice", tool: str = "api.github.com", capability: str = "read",
        url: str | None = None, body_hash: str | None = None, method: str = "GET", step: float = 1.0) -> list[Alert]:  # fmt: skip
    clock.advance(step)
    return det.before_request(
        actor=actor, workspace="ws", tool=tool, capability=capability, method=method,
        url=url or f"https://{tool}/{clock.now}", body_hash=body_hash,
    )  # fmt: skip


def types(alerts: list[Alert]) -> list[AnomalyType]:
    return [a.type for a in alerts]


def test_new_tool_usage_but_not_on_the_first_ever(make_detector, clock) -> None:
    det = make_detector()
    assert req(det, clock, tool="api.github.com") == []
    assert req(det, clock, tool="api.github.com") == []
    alerts = req(det, clock, tool="pastebin.com")
    assert types(alerts) == [AnomalyType.NEW_TOOL_USAGE]
    assert (alerts[0].severity, alerts[0].entity, alerts[0].action) == (
        Severity.LOW,
        "actor:alice",
        Action.LOG,
    )
    assert "pastebin.com" in alerts[0].message
    assert req(det, clock, tool="pastebin.com") == []
    assert req(det, clock, actor="bob", tool="pastebin.com") == []  # bob's first ever
    assert types(req(det, clock, actor="bob", tool="api.github.com")) == [AnomalyType.NEW_TOOL_USAGE]


def test_two_new_tools_in_one_minute_are_two_first_alerts(make_detector, clock) -> None:
    det = make_detector()
    req(det, clock, tool="a.example")
    alerts = req(det, clock, tool="b.example") + req(det, clock, tool="c.example")
    assert [a.first for a in alerts] == [True, True]
    assert len(det.recent_alerts(actor="alice")) == 2


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        (["read", "write", "write", "admin", "delete", "read"], [None, "low", None, "high", None, None]),
        (["read", "delete"], [None, "medium"]),
        (["admin", "admin", "delete"], [None, None, None]),  # first ever request sets the baseline
        (["write", "read", "write"], [None, None, None]),
    ],
)
def test_capability_escalation(make_detector, clock, sequence: list[str], expected: list[str | None]) -> None:
    det = make_detector()
    got: list[str | None] = []
    for capability in sequence:
        alerts = [
            a for a in req(det, clock, capability=capability) if a.type is AnomalyType.CAPABILITY_ESCALATION
        ]
        assert len(alerts) <= 1
        got.append(alerts[0].severity.value if alerts else None)
    assert got == expected


def at(clock, *parts: int, tz: ZoneInfo = WARSAW) -> None:
    clock.now = datetime(*parts, tzinfo=tz).timestamp() - 1.0  # req() advances one second


@pytest.mark.parametrize(
    ("when", "off"),
    [
        ((2024, 1, 16, 8, 59, 59), True),  # Tuesday, a second before work (07:59:59 UTC)
        ((2024, 1, 16, 9, 0, 0), False),
        ((2024, 1, 16, 16, 59, 59), False),
        ((2024, 1, 16, 17, 0, 0), True),
        ((2024, 1, 20, 12, 0, 0), True),  # Saturday
        ((2024, 7, 16, 8, 30, 0), True),  # summer time: 06:30 UTC
        ((2024, 7, 16, 9, 30, 0), False),  # 07:30 UTC, which would be 08:30 under winter time
    ],
)
def test_off_hours_in_the_configured_timezone(make_detector, clock, when: tuple[int, ...], off: bool) -> None:
    det = make_detector(working_hours=HOURS)
    at(clock, *when)
    alerts = [a for a in req(det, clock) if a.type is AnomalyType.OFF_HOURS_ACTIVITY]
    assert bool(alerts) is off
    if off:
        assert alerts[0].severity is Severity.LOW and alerts[0].entity == "actor:alice"


def test_off_hours_alerts_once_per_actor_per_hour(make_detector, clock) -> None:
    det = make_detector(working_hours=HOURS)
    at(clock, 2024, 1, 16, 20, 0, 0)
    first = req(det, clock)
    assert types(first) == [AnomalyType.OFF_HOURS_ACTIVITY]
    for _ in range(3599):  # a request every second for the rest of the hour
        assert req(det, clock) == []
    assert types(req(det, clock, actor="bob")) == [AnomalyType.OFF_HOURS_ACTIVITY]  # bob is counted apart
    assert types(req(det, clock)) == [AnomalyType.OFF_HOURS_ACTIVITY]  # 3600 s after alice's first


def test_overnight_shift_and_no_working_hours(make_detector, clock) -> None:
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    det = make_detector(
        working_hours={"timezone": "UTC", "start": "22:00", "end": "06:00", "days": every_day}
    )
    at(clock, 2024, 1, 16, 23, 30, 0, tz=ZoneInfo("UTC"))
    assert req(det, clock) == []
    at(clock, 2024, 1, 17, 5, 59, 0, tz=ZoneInfo("UTC"))
    assert req(det, clock) == []
    at(clock, 2024, 1, 17, 12, 0, 0, tz=ZoneInfo("UTC"))
    assert types(req(det, clock)) == [AnomalyType.OFF_HOURS_ACTIVITY]
    det = make_detector()  # no working_hours: off-hours detection is off
    at(clock, 2024, 1, 20, 3, 0, 0)
    assert req(det, clock) == []


def test_repeated_request_at_the_threshold_within_the_window(make_detector, clock) -> None:
    det = make_detector()
    url = "https://api.openai.com/v1/chat/completions?key=sk-secret"
    got = [req(det, clock, url=url, body_hash="b1", method="POST", step=5.0) for _ in range(12)]
    assert [types(a) for a in got[:9]] == [[]] * 9
    assert all(types(a) == [AnomalyType.REPEATED_REQUEST] for a in got[9:])
    alert = got[9][0]
    assert (alert.value, alert.severity, alert.entity) == (10.0, Severity.MEDIUM, "actor:alice")
    assert "sk-secret" not in alert.message and "api.openai.com" not in alert.message


def test_repeats_spread_wider_than_the_window_or_differing_do_not_alert(make_detector, clock) -> None:
    det = make_detector()
    url = "https://api.openai.com/v1/chat/completions"
    assert [a for _ in range(30) for a in req(det, clock, url=url, body_hash="b1", step=6.7)] == []
    assert [a for i in range(30) for a in req(det, clock, url=url, body_hash=f"c{i % 5}", step=2.0)] == []
    assert [a for _ in range(9) for a in req(det, clock, actor="x", url=url, body_hash="b", step=1.0)] == []
    assert [a for _ in range(9) for a in req(det, clock, actor="y", url=url, body_hash="b", step=1.0)] == []


def test_repeat_threshold_and_window_are_configurable(make_detector, clock) -> None:
    det = make_detector(repeat_threshold=3, repeat_window_seconds=5, actions={"repeated_request": "block"})
    url = "https://h/x"
    assert req(det, clock, url=url, step=2.0) + req(det, clock, url=url, step=2.0) == []
    alerts = req(det, clock, url=url, step=2.0)
    assert types(alerts) == [AnomalyType.REPEATED_REQUEST] and alerts[0].action is Action.BLOCK
    clock.advance(10)
    assert req(det, clock, url=url) == []


def test_capability_enum_from_the_shared_types_is_accepted(make_detector, clock) -> None:
    from palaryn_proxy.types import Capability

    det = make_detector()
    req(det, clock, capability=Capability.READ)
    alerts = req(det, clock, capability=Capability.ADMIN)
    assert [(a.type, a.severity) for a in alerts] == [(AnomalyType.CAPABILITY_ESCALATION, Severity.HIGH)]
