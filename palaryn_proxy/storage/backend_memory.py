"""In-process storage for tests and throwaway runs: every operation is one lock-held step, nothing survives exit."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from palaryn_proxy.storage._rules import admits, retry_after, window_admits
from palaryn_proxy.storage.base import (
    FINISHED_GRACE_SECONDS,
    Bucket,
    Counter,
    CounterState,
    HitResult,
    ReserveResult,
    SettleResult,
    Snapshot,
)

_PURGE_EVERY = 1024


@dataclass(slots=True)
class _Counter:
    spent_nanos: int = 0
    spent_tokens: int = 0
    expire_at: float | None = None
    holds: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # rid -> (nanos, tokens, until)

    def state(self, now: float, skip: str | None = None) -> CounterState:
        live = [h for rid, h in self.holds.items() if h[2] > now and rid != skip]
        return CounterState(
            self.spent_nanos, self.spent_tokens, sum(h[0] for h in live), sum(h[1] for h in live)
        )


@dataclass(slots=True)
class _Log:
    entries: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0
    window: float = 0.0

    def prune(self, now: float, window: float) -> bool:
        """Drop entries older than the window; True if any remain."""
        self.window = max(self.window, window)
        while self.entries and self.entries[0][0] <= now - window:
            self.total -= self.entries.popleft()[1]
        return bool(self.entries)


class MemoryStorage:
    """The `Storage` protocol over plain dicts; one lock makes each call atomic even across threads."""

    def __init__(
        self,
        key_prefix: str = "palaryn:",
        *,
        clock: Callable[[], float] = time.time,
        finished_grace_seconds: float = FINISHED_GRACE_SECONDS,
    ) -> None:
        self._prefix = key_prefix
        self._clock = clock
        self._finished_grace = finished_grace_seconds
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._finished: dict[str, float] = {}  # rid -> forget-after
        self._logs: dict[str, _Log] = {}
        self._kv: dict[str, tuple[str, float | None]] = {}
        self._ops = 0

    def _live_counter(self, key: str, now: float) -> _Counter | None:
        c = self._counters.get(self._prefix + key)
        if c is not None and c.expire_at is not None and c.expire_at <= now:
            del self._counters[self._prefix + key]
            return None
        return c

    def _counter_for_write(self, counter: Counter, now: float) -> _Counter:
        c = self._live_counter(counter.key, now)
        if c is None:
            c = self._counters[self._prefix + counter.key] = _Counter()
        if counter.expire_at is not None:
            c.expire_at = counter.expire_at
        return c

    def _tick(self, now: float) -> None:
        self._ops += 1
        if self._ops % _PURGE_EVERY:
            return
        for rid in [r for r, until in self._finished.items() if until <= now]:
            del self._finished[rid]
        for key in [k for k, lg in self._logs.items() if not lg.prune(now, lg.window)]:
            del self._logs[key]
        for key in [k for k, c in self._counters.items() if c.expire_at is not None and c.expire_at <= now]:
            del self._counters[key]
        for c in self._counters.values():
            for rid in [r for r, h in c.holds.items() if h[2] <= now]:
                del c.holds[rid]
        for key in [k for k, (_, until) in self._kv.items() if until is not None and until <= now]:
            del self._kv[key]

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int, hold_seconds: float
    ) -> ReserveResult:
        with self._lock:
            now = self._clock()
            self._tick(now)
            if self._finished.get(reservation_id, 0.0) > now:
                return ReserveResult(False, ())
            states = []
            for counter in counters:
                c = self._live_counter(counter.key, now)
                states.append(c.state(now, skip=reservation_id) if c else CounterState())
            for i, (counter, state) in enumerate(zip(counters, states, strict=True)):
                if not admits(counter, state, nanos, tokens):
                    return ReserveResult(False, tuple(states), i)
            for counter in counters:
                c = self._counter_for_write(counter, now)
                c.holds[reservation_id] = (nanos, tokens, now + hold_seconds)
            return ReserveResult(True, tuple(states))

    def _finish(self, reservation_id: str, now: float) -> bool:
        if self._finished.get(reservation_id, 0.0) > now:
            return False
        self._finished[reservation_id] = now + self._finished_grace
        return True

    def load(self, snapshot: Snapshot) -> None:
        """Replace all budget and rate-limit state with a snapshot (kv values are left as they are)."""
        with self._lock:
            self._counters = {k: _Counter(n, t, exp) for k, n, t, exp in snapshot.counters}
            for key, rid, nanos, tokens, until in snapshot.holds:
                self._counters.setdefault(key, _Counter()).holds[rid] = (nanos, tokens, until)
            self._finished = dict(snapshot.finished)
            self._logs = {}
            for key, stamp, cost, expire_at in snapshot.rate_log:
                log = self._logs.setdefault(key, _Log())
                log.entries.append((stamp, cost))
                log.total += cost
                log.window = max(log.window, expire_at - stamp)

    async def settle(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int
    ) -> SettleResult:
        with self._lock:
            now = self._clock()
            if not self._finish(reservation_id, now):
                return SettleResult(False)
            spent = []
            for counter in counters:
                c = self._counter_for_write(counter, now)
                c.holds.pop(reservation_id, None)
                c.spent_nanos += nanos
                c.spent_tokens += tokens
                spent.append((c.spent_nanos, c.spent_tokens))
            return SettleResult(True, tuple(spent))

    async def release(self, reservation_id: str, counters: Sequence[Counter]) -> bool:
        with self._lock:
            now = self._clock()
            if not self._finish(reservation_id, now):
                return False
            for counter in counters:
                c = self._live_counter(counter.key, now)
                if c is not None:
                    c.holds.pop(reservation_id, None)
            return True

    async def counter(self, key: str) -> CounterState:
        with self._lock:
            now = self._clock()
            c = self._live_counter(key, now)
            return c.state(now) if c else CounterState()

    async def counters(self, prefix: str) -> dict[str, CounterState]:
        with self._lock:
            now = self._clock()
            full = self._prefix + prefix
            keys = [k[len(self._prefix) :] for k in self._counters if k.startswith(full)]
            found = {k: self._live_counter(k, now) for k in keys}
            return {k: c.state(now) for k, c in found.items() if c is not None}

    async def reset(self, key: str) -> None:
        with self._lock:
            self._counters.pop(self._prefix + key, None)

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        with self._lock:
            now = self._clock()
            self._tick(now)
            logs = []
            for b in buckets:
                log = self._logs.setdefault(self._prefix + b.key, _Log())
                log.prune(now, b.window_seconds)
                logs.append(log)
            for i, (b, log) in enumerate(zip(buckets, logs, strict=True)):
                if not window_admits(log.total, b.cost, b.limit):
                    wait = retry_after(log.entries, log.total, b.cost, b.limit, b.window_seconds, now)
                    remaining = min(max(bb.limit - lg.total, 0) for bb, lg in zip(buckets, logs, strict=True))
                    return HitResult(False, wait, remaining, now, i)
            for b, log in zip(buckets, logs, strict=True):
                log.entries.append((now, b.cost))
                log.total += b.cost
            remaining = min(
                (max(b.limit - lg.total, 0) for b, lg in zip(buckets, logs, strict=True)), default=0
            )
            return HitResult(True, 0.0, remaining, now)

    async def correct(self, key: str, window_seconds: float, stamp: float, delta: int) -> None:
        with self._lock:
            now = self._clock()
            if stamp <= now - window_seconds:
                return
            log = self._logs.setdefault(self._prefix + key, _Log())
            log.prune(now, window_seconds)
            # Keep the log ordered by stamp so pruning from the left stays correct.
            idx = len(log.entries)
            while idx > 0 and log.entries[idx - 1][0] > stamp:
                idx -= 1
            log.entries.insert(idx, (stamp, delta))
            log.total += delta

    async def put(
        self, key: str, value: str, ttl_seconds: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        with self._lock:
            now = self._clock()
            self._tick(now)
            if only_if_absent and self._kv_get(key, now) is not None:
                return False
            self._kv[self._prefix + key] = (value, None if ttl_seconds is None else now + ttl_seconds)
            return True

    def _kv_get(self, key: str, now: float) -> str | None:
        item = self._kv.get(self._prefix + key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= now:
            del self._kv[self._prefix + key]
            return None
        return item[0]

    async def get(self, key: str) -> str | None:
        with self._lock:
            return self._kv_get(key, self._clock())

    async def delete(self, key: str) -> bool:
        with self._lock:
            present = self._kv_get(key, self._clock()) is not None
            self._kv.pop(self._prefix + key, None)
            return present

    async def keys(self, prefix: str) -> list[str]:
        with self._lock:
            now = self._clock()
            full = self._prefix + prefix
            found = [
                k[len(self._prefix) :]
                for k, (_, until) in self._kv.items()
                if k.startswith(full) and (until is None or until > now)
            ]
            return sorted(found)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
