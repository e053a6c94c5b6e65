"""Admission rules shared by the memory and SQLite backends (the Lua scripts mirror them for Redis)."""

from __future__ import annotations

from collections.abc import Iterable

from palaryn_proxy.storage.base import Counter, CounterState


def admits(counter: Counter, state: CounterState, nanos: int, tokens: int) -> bool:
    """True if spent + live holds + this amount stays within every limit the counter sets."""
    if counter.limit_nanos is not None:
        if state.spent_nanos + state.reserved_nanos + nanos > counter.limit_nanos:
            return False
    if counter.limit_tokens is not None:
        if state.spent_tokens + state.reserved_tokens + tokens > counter.limit_tokens:
            return False
    return True


def window_admits(total: int, cost: int, limit: int) -> bool:
    """True if a sliding window holding `total` can take `cost` more."""
    return total + cost <= limit


def retry_after(
    entries: Iterable[tuple[float, int]], total: int, cost: int, limit: int, window: float, now: float
) -> float:
    """Seconds until enough of the oldest `(stamp, cost)` entries leave the window to admit `cost`."""
    if cost > limit:
        return window
    freed = 0
    for stamp, entry_cost in entries:
        freed += entry_cost
        if total - freed + cost <= limit:
            return max(stamp + window - now, 0.0)
    return window
