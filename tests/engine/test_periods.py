"""Calendar windows: ids, bounds and time left, including DST days, ISO weeks and half-hour zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from palaryn_proxy.budget.periods import Period, window

NY = ZoneInfo("America/New_York")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("period", "now", "window_id", "start", "end"),
    [
        (
            Period.HOUR,
            "2024-05-01T13:59:59+00:00",
            "2024-05-01T09-0400",
            "2024-05-01T13:00:00+00:00",
            "2024-05-01T14:00:00+00:00",
        ),
        (
            Period.DAY,
            "2024-05-01T03:00:00+00:00",
            "2024-04-30",
            "2024-04-30T04:00:00+00:00",
            "2024-05-01T04:00:00+00:00",
        ),
        (
            Period.WEEK,
            "2024-05-01T12:00:00+00:00",
            "2024-W18",
            "2024-04-29T04:00:00+00:00",
            "2024-05-06T04:00:00+00:00",
        ),
        (
            Period.WEEK,
            "2024-12-31T12:00:00+00:00",
            "2025-W01",
            "2024-12-30T05:00:00+00:00",
            "2025-01-06T05:00:00+00:00",
        ),
        (
            Period.MONTH,
            "2024-12-31T12:00:00+00:00",
            "2024-12",
            "2024-12-01T05:00:00+00:00",
            "2025-01-01T05:00:00+00:00",
        ),
        (
            Period.MONTH,
            "2024-03-15T12:00:00+00:00",
            "2024-03",
            "2024-03-01T05:00:00+00:00",
            "2024-04-01T04:00:00+00:00",
        ),
    ],
)
def test_windows_in_new_york(period: Period, now: str, window_id: str, start: str, end: str) -> None:
    w = window(period, NY, at(now))
    assert w.id == window_id
    assert w.start is not None and w.end is not None
    assert w.start.astimezone(UTC) == at(start)
    assert w.end.astimezone(UTC) == at(end)
    assert w.seconds_left == (at(end) - at(now)).total_seconds()
    assert w.end_timestamp == at(end).timestamp()


def test_dst_days_last_23_and_25_hours() -> None:
    spring = window(Period.DAY, NY, at("2024-03-10T12:00:00+00:00"))
    autumn = window(Period.DAY, NY, at("2024-11-03T12:00:00+00:00"))
    assert spring.start and spring.end and autumn.start and autumn.end
    assert spring.end.astimezone(UTC) - spring.start.astimezone(UTC) == timedelta(hours=23)
    assert autumn.end.astimezone(UTC) - autumn.start.astimezone(UTC) == timedelta(hours=25)


def test_repeated_wall_clock_hour_is_two_windows() -> None:
    first = window(Period.HOUR, NY, at("2024-11-03T05:30:00+00:00"))  # 01:30 EDT
    second = window(Period.HOUR, NY, at("2024-11-03T06:30:00+00:00"))  # 01:30 EST
    assert first.id != second.id
    assert first.seconds_left == second.seconds_left == 1800
    assert first.end == second.start


def test_half_hour_zone_aligns_hours_locally() -> None:
    w = window(Period.HOUR, ZoneInfo("Asia/Kolkata"), at("2024-05-01T10:10:00+00:00"))  # 15:40 IST
    assert w.start is not None and w.start.astimezone(UTC) == at("2024-05-01T09:30:00+00:00")
    assert w.seconds_left == 20 * 60


def test_skipped_midnight_starts_the_day_at_its_first_instant() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2024-09-08 00:00 does not exist (clocks jump to 01:00)
    w = window(Period.DAY, santiago, at("2024-09-08T12:00:00+00:00"))
    assert w.id == "2024-09-08"
    assert w.start is not None and w.start.astimezone(UTC) == at("2024-09-08T04:00:00+00:00")


def test_total_never_ends() -> None:
    w = window(Period.TOTAL, NY, at("2024-05-01T00:00:00+00:00"))
    assert (w.id, w.start, w.end, w.seconds_left, w.end_timestamp) == ("total", None, None, None, None)


def test_default_now_and_naive_datetimes() -> None:
    w = window(Period.DAY, ZoneInfo("UTC"))
    assert w.seconds_left is not None and 0 < w.seconds_left <= 86400
    with pytest.raises(ValueError, match="timezone-aware"):
        window(Period.DAY, NY, datetime(2024, 5, 1))


def test_reused_bounds_follow_the_instant_back_and_forth() -> None:
    tz = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first of the repeated hours
    second = first + timedelta(hours=1)  # 01:30 EST
    ids = [window(Period.HOUR, tz, t).id for t in (first, second, first, second + timedelta(minutes=29))]
    assert ids[0] == ids[2] != ids[1] == ids[3]
    assert window(Period.HOUR, tz, first).seconds_left == 30 * 60
