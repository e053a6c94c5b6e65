"""Calendar-aligned budget windows (hour, day, ISO week, month, total) in a configured time zone."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


class Period(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@dataclass(frozen=True, slots=True)
class Window:
    """One period instance: a stable id for storage keys, and its bounds (None for `total`).

    `start` and `end` are aware datetimes in the configured zone; `seconds_left` is measured from the
    instant the window was computed for.
    """

    id: str
    start: datetime | None
    end: datetime | None
    seconds_left: float | None

    @property
    def end_timestamp(self) -> float | None:
        """Unix time of the window's end (what storage uses to expire the window's counters)."""
        return None if self.end is None else self.end.timestamp()


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    # A midnight skipped by a DST jump resolves (fold=0) to the first instant of that day.
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC).astimezone(tz)


def _bounds(period: Period, local: datetime, tz: ZoneInfo) -> tuple[str, datetime, datetime]:
    if period is Period.HOUR:
        start = local.replace(minute=0, second=0, microsecond=0)
        # Add an absolute hour: a wall-clock hour repeated at DST's end is two windows, not one.
        end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
        return start.strftime("%Y-%m-%dT%H%z"), start, end
    day = local.date()
    if period is Period.DAY:
        return day.isoformat(), _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
    if period is Period.WEEK:
        monday = day - timedelta(days=day.weekday())
        iso = monday.isocalendar()
        return f"{iso.year}-W{iso.week:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz)
    first = day.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return f"{first:%Y-%m}", _midnight(first, tz), _midnight(following, tz)


# The bounds last computed per (period, zone): (start, end) as unix time, and what _bounds returned.
_LAST: dict[tuple[Period, ZoneInfo], tuple[float, float, tuple[str, datetime, datetime]]] = {}


def window(period: Period, tz: ZoneInfo, now: datetime | None = None) -> Window:
    """The window of `period` containing `now` (default: the current time); `now` must be timezone-aware."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("window() needs a timezone-aware datetime")
    if period is Period.TOTAL:
        return Window("total", None, None, None)
    instant = now.timestamp()
    known = _LAST.get((period, tz))
    if known is not None and known[0] <= instant < known[1]:
        window_id, start, end = known[2]
    else:  # windows tile time, so any instant in [start, end) has these bounds: reuse until it leaves
        window_id, start, end = bounds = _bounds(period, now.astimezone(tz), tz)
        _LAST[(period, tz)] = (start.timestamp(), end.timestamp(), bounds)
    # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall clocks, which is wrong across DST.
    seconds_left = (end.astimezone(UTC) - now.astimezone(UTC)).total_seconds()
    return Window(window_id, start, end, seconds_left)
