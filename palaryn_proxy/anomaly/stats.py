"""Rolling window statistics in constant time and memory: a ring of time slots holding running sums.

The window is SLOTS slots of window_seconds / SLOTS each (five minutes for the default hour). Every slot
keeps a count, a sum and a sum of squares; window totals sit after the slots in the same flat array of
doubles, are updated incrementally, and are recomputed exactly (fsum) whenever the ring turns to a new
slot, so float error never accumulates. Slots are aligned on absolute time, which also makes snapshots
from several replicas mergeable by plain addition.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any, ClassVar

SLOTS = 12
# A value metric (log scale) with no spread at all still has to double before it reaches z = 3.
LOG_SD_FLOOR = math.log(2.0) / 3.0
# A rate metric's empirical spread is never taken below 10% of its mean.
RATE_REL_SD_FLOOR = 0.1
RECENT_OUTCOMES = 20  # responses in the error-rate "now" window
_RECENT_MASK = (1 << RECENT_OUTCOMES) - 1
_NEVER = -(1 << 62)
_V = SLOTS * 3  # where RollingValue's totals start in its array
_R = SLOTS * 4  # where RollingRate's totals start


@dataclass(frozen=True, slots=True)
class Grid:
    """Maps a timestamp to its rate bucket and window slot with integer arithmetic (no float drift)."""

    bucket_seconds: int
    window_seconds: int

    def bucket(self, now: float) -> int:
        return int(now // self.bucket_seconds)

    def slot(self, now: float) -> int:
        return int((now * SLOTS) // self.window_seconds)

    def slot_of_bucket(self, bucket: int) -> int:
        return (bucket * self.bucket_seconds * SLOTS) // self.window_seconds


def _zeros(n: int) -> array[float]:
    return array("d", bytes(8 * n))


class Ring:
    """SLOTS slots of STRIDE accumulators, then STRIDE window totals, in one array of doubles."""

    STRIDE: ClassVar[int] = 1
    __slots__ = ("head", "ring")

    def __init__(self) -> None:
        self.head = _NEVER  # the newest slot index the ring has turned to
        self.ring = _zeros((SLOTS + 1) * self.STRIDE)

    def total(self, k: int) -> float:
        return self.ring[SLOTS * self.STRIDE + k]

    def turn(self, slot: int) -> bool:
        """Expire the slots that fell out of the window by `slot`; True when the whole ring was cleared."""
        head = self.head
        if slot <= head:
            return False
        self.head = slot
        stride = self.STRIDE
        if slot - head >= SLOTS:
            self.ring = _zeros((SLOTS + 1) * stride)
            return True
        ring = self.ring
        blank = _zeros(stride)
        for s in range(head + 1, slot + 1):
            j = (s % SLOTS) * stride
            ring[j : j + stride] = blank
        base = SLOTS * stride
        for k in range(stride):
            ring[base + k] = math.fsum(ring[k:base:stride])
        return False

    def put(self, slot: int, values: tuple[float, ...]) -> None:
        """Add accumulators into `slot` (turning the ring forward if needed); late data is dropped."""
        if slot > self.head:
            self.turn(slot)
        elif slot <= self.head - SLOTS:
            return
        stride = self.STRIDE
        j = (slot % SLOTS) * stride
        base = SLOTS * stride
        ring = self.ring
        for k, v in enumerate(values):
            ring[j + k] += v
            ring[base + k] += v

    def merge_ring(self, head: int, ring: list[float]) -> None:
        """Add another ring on the same grid (a snapshot, a peer replica) into this one."""
        stride = self.STRIDE
        for s in range(head - SLOTS + 1, head + 1):
            j = (s % SLOTS) * stride
            self.put(s, tuple(ring[j : j + stride]))

    def export(self) -> dict[str, Any]:
        return {"head": self.head, "ring": self.ring.tolist()[: SLOTS * self.STRIDE]}


class RollingValue(Ring):
    """Observations of one metric on a log scale: count, sum and sum of squares per slot."""

    STRIDE = 3
    __slots__ = ()

    def add(self, slot: int, y: float) -> None:
        if slot > self.head:
            self.turn(slot)
        elif slot <= self.head - SLOTS:
            return
        j = (slot % SLOTS) * 3
        ring = self.ring
        ring[j] += 1.0
        ring[j + 1] += y
        ring[j + 2] += y * y
        ring[_V] += 1.0
        ring[_V + 1] += y
        ring[_V + 2] += y * y

    def zscore(self, slot: int, y: float, min_samples: int) -> tuple[float, float] | None:
        """(z, window mean) of y observed in `slot`, or None before min_samples observations."""
        if slot > self.head:
            self.turn(slot)
        ring = self.ring
        n = ring[_V]
        if n < min_samples:
            return None
        s1 = ring[_V + 1]
        mean = s1 / n
        var = (ring[_V + 2] - s1 * mean) / (n - 1) if n > 1 else 0.0
        sd = max(math.sqrt(var) if var > 0.0 else 0.0, LOG_SD_FLOOR)
        return (y - mean) / sd, mean


class RollingRate(Ring):
    """A quantity summed per rate bucket (requests, tokens, dollars); each active bucket is one sample.

    Slot accumulators: active buckets, sum of bucket totals S, sum of S², sum of the per-event q².
    Only buckets with activity are samples, so an idle actor waking up at its usual pace is no spike.
    """

    STRIDE = 4
    __slots__ = ("bucket", "cur", "cur_q2")

    def __init__(self) -> None:
        super().__init__()
        self.bucket = _NEVER
        self.cur = 0.0
        self.cur_q2 = 0.0

    def add(self, grid: Grid, bucket: int, slot: int, q: float) -> None:
        """Count q in the open bucket; a later bucket first closes it (an earlier one is counted as open)."""
        if bucket > self.bucket:
            if self.cur > 0.0:
                self.close(grid)
            self.bucket = bucket
        if slot > self.head:
            self.turn(slot)
        self.cur += q
        self.cur_q2 += q * q

    def close(self, grid: Grid) -> None:
        """Move the open bucket's total into the window as one sample."""
        cur = self.cur
        if cur > 0.0:
            self.put(grid.slot_of_bucket(self.bucket), (1.0, cur, cur * cur, self.cur_q2))
        self.cur = 0.0
        self.cur_q2 = 0.0

    def zscore(self, min_samples: int) -> tuple[float, float] | None:
        """(z, mean per active bucket) of the open bucket, or None.

        z is the smaller of two scores, so a spike must stand out from both: the empirical one (spread
        floored at 10% of the mean) and a variance-stabilised compound-Poisson one, Anscombe's
        2(sqrt(x + 3/8) - sqrt(m + 3/8)) in units of E[q²]/E[q], which keeps small counts and one
        large LLM call from looking like a spike.
        """
        ring = self.ring
        n = ring[_R]
        s1 = ring[_R + 1]
        if n < min_samples or s1 <= 0.0:
            return None
        mean = s1 / n
        cur = self.cur
        if cur <= mean:
            return None
        var = (ring[_R + 2] - s1 * mean) / (n - 1) if n > 1 else 0.0
        sd = max(math.sqrt(var) if var > 0.0 else 0.0, RATE_REL_SD_FLOOR * mean)
        unit = ring[_R + 3] / s1
        z_poisson = 2.0 * (math.sqrt(cur / unit + 0.375) - math.sqrt(mean / unit + 0.375))
        return min(z_poisson, (cur - mean) / sd), mean

    def merge_open(self, grid: Grid, bucket: int, cur: float, cur_q2: float) -> None:
        """Merge another tracker's open bucket: the same bucket adds up, an older one is closed."""
        if bucket == self.bucket:
            self.cur += cur
            self.cur_q2 += cur_q2
        elif bucket > self.bucket:
            self.close(grid)
            self.bucket, self.cur, self.cur_q2 = bucket, cur, cur_q2
        elif cur > 0.0:
            self.put(grid.slot_of_bucket(bucket), (1.0, cur, cur * cur, cur_q2))

    def export(self) -> dict[str, Any]:
        data = super().export()
        data.update(bucket=self.bucket, cur=self.cur, q2=self.cur_q2)
        return data


class ErrorRate(Ring):
    """Responses and errors per slot, plus the outcomes of the last RECENT_OUTCOMES responses as bits."""

    STRIDE = 2
    __slots__ = ("mask", "recent")

    def __init__(self) -> None:
        super().__init__()
        self.mask = 0
        self.recent = 0

    def add(self, slot: int, error: bool) -> None:
        if slot > self.head and self.turn(slot):
            self.mask = 0
            self.recent = 0
        self.put(slot, (1.0, 1.0 if error else 0.0))
        self.mask = ((self.mask << 1) | error) & _RECENT_MASK
        if self.recent < RECENT_OUTCOMES:
            self.recent += 1

    def zscore(self, min_samples: int, max_baseline: float) -> tuple[float, float, float] | None:
        """(z, recent error rate, baseline error rate), or None when the baseline is too small or too
        error-prone. The baseline is the window minus the recent outcomes; z is variance-stabilised
        (Anscombe) on the recent error count against the count the baseline rate predicts."""
        recent = self.recent
        errors = self.mask.bit_count()
        n_base = self.total(0) - recent
        if n_base < min_samples or errors == 0:
            return None
        p = max(self.total(1) - errors, 0.0) / n_base
        if p >= max_baseline:
            return None
        z = 2.0 * (math.sqrt(errors + 0.375) - math.sqrt(p * recent + 0.375))
        return z, errors / recent, p
