"""Working-hours check in a configured timezone, converting a timestamp at most once per minute."""

from __future__ import annotations

from datetime import datetime

from palaryn_proxy.anomaly.config import WorkingHours


class OffHoursClock:
    __slots__ = ("_hours", "_minute", "_off")

    def __init__(self, hours: WorkingHours) -> None:
        self._hours = hours
        self._minute = -1
        self._off = False

    def is_off(self, now: float) -> bool:
        """True when `now` is outside working hours (zone offsets are whole minutes, so cache per minute)."""
        minute = int(now // 60)
        if minute != self._minute:
            local = datetime.fromtimestamp(minute * 60, self._hours.timezone)
            self._off = not self._hours.is_working(local.weekday(), local.hour * 60 + local.minute)
            self._minute = minute
        return self._off
