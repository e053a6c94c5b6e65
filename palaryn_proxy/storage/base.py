"""The storage protocol shared by every backend, its value types, and the money unit (integer nano-dollars).

Every operation that reads and then writes is atomic in the backend (one Lua script on Redis, one
`BEGIN IMMEDIATE` transaction on SQLite, one lock-held step in memory), so several proxy replicas can
share one store without over-admitting. Every backend raises `palaryn_proxy.errors.StorageError` and
nothing else for backend failures; callers decide whether to fail open or closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Protocol, runtime_checkable

NANOS_PER_USD = 10**9
# Redis Lua numbers are doubles: integers stay exact below 2**53 nano-dollars, about 9 million USD.
MAX_NANOS = 2**53 - 1
# How long a finished reservation id is remembered (so a repeated settle or release is a no-op).
FINISHED_GRACE_SECONDS = 3600.0

ROUND_UP = ROUND_CEILING  # for worst-case reservations: never under-reserve
ROUND_DOWN = ROUND_FLOOR  # for limits: never admit more than configured
ROUND_EXACT = ROUND_HALF_EVEN  # for actual spend


def usd_to_nanos(usd: Decimal, rounding: str = ROUND_EXACT) -> int:
    """Convert dollars to integer nano-dollars, rounding as asked; refuses values the stores cannot keep exact."""
    nanos = int((usd * NANOS_PER_USD).to_integral_value(rounding=rounding))
    if abs(nanos) > MAX_NANOS:
        raise ValueError(f"amount {usd} USD is too large to store exactly")
    return nanos


def nanos_to_usd(nanos: int) -> Decimal:
    """Convert integer nano-dollars back to an exact Decimal."""
    return Decimal(nanos).scaleb(-9)


@dataclass(frozen=True, slots=True)
class Counter:
    """One spend counter a reservation is checked against; `None` limits are not checked.

    `expire_at` (unix seconds) is when the counter's window ends and its data may be dropped; None keeps it.
    """

    key: str
    limit_nanos: int | None = None
    limit_tokens: int | None = None
    expire_at: float | None = None


@dataclass(frozen=True, slots=True)
class CounterState:
    """What a counter holds: settled spend plus live (unexpired) reservations."""

    spent_nanos: int = 0
    spent_tokens: int = 0
    reserved_nanos: int = 0
    reserved_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of `Storage.reserve`.

    `states` has one entry per counter, as seen just before this reservation (excluding it). On refusal
    `blocked` is the index of the first counter that would go over its limit; `blocked is None` with
    `ok False` means the reservation id was already settled or released (ids must be unique).
    """

    ok: bool
    states: tuple[CounterState, ...]
    blocked: int | None = None


@dataclass(frozen=True, slots=True)
class SettleResult:
    """Outcome of `Storage.settle`: `applied` is False when the id was already settled or released.

    `spent` has one `(spent_nanos, spent_tokens)` pair per counter after this settle (empty when not applied).
    """

    applied: bool
    spent: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Bucket:
    """One sliding-window rate limit: at most `limit` units of cost in any `window_seconds` interval."""

    key: str
    limit: int
    window_seconds: float
    cost: int = 1


@dataclass(frozen=True, slots=True)
class HitResult:
    """Outcome of `Storage.hit`.

    `retry_after_seconds` is 0 when allowed, else when the blocking bucket will admit this cost (the
    whole window when the cost alone exceeds the limit). `remaining` is the smallest headroom left over
    all buckets. `stamp` is the store's clock (unix seconds) at the hit, needed by `Storage.correct`.
    """

    allowed: bool
    retry_after_seconds: float
    remaining: int
    stamp: float
    blocked: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Live budget and rate-limit state read out of a store (keys carry the storage key prefix).

    counters: (key, spent_nanos, spent_tokens, expire_at); holds: (key, rid, nanos, tokens, until);
    finished: (rid, forget_at); rate_log: (key, stamp, cost, expire_at), ordered by key then stamp.
    """

    counters: list[tuple[str, int, int, float | None]]
    holds: list[tuple[str, str, int, int, float]]
    finished: list[tuple[str, float]]
    rate_log: list[tuple[str, float, int, float]]


@runtime_checkable
class Storage(Protocol):
    """The few atomic primitives budgets, rate limits and approvals need."""

    async def reserve(
        self,
        reservation_id: str,
        counters: Sequence[Counter],
        nanos: int,
        tokens: int,
        hold_seconds: float,
    ) -> ReserveResult:
        """Atomically check every counter (spent + live reservations + amount <= limit) and hold the amount
        on all of them, or on none. The hold stops counting after `hold_seconds` (a replica that died).
        Repeating a reserve with a still-held id refreshes it instead of holding twice."""
        ...

    async def settle(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int
    ) -> SettleResult:
        """Replace the hold with the actual spend on every counter. Idempotent: once settled or released,
        later settles are no-ops. A hold that lapsed is still settled (spend is never dropped)."""
        ...

    async def release(self, reservation_id: str, counters: Sequence[Counter]) -> bool:
        """Drop the hold without spending; False if the id was already settled or released."""
        ...

    async def counter(self, key: str) -> CounterState:
        """Read one counter (zeros if it does not exist or its window ended)."""
        ...

    async def counters(self, prefix: str) -> dict[str, CounterState]:
        """Every live counter whose key starts with `prefix` (for status listings; not for the hot path)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget a counter's spend and holds (an operator's `budget reset`)."""
        ...

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        """Atomically admit `cost` on every bucket, or on none (sliding log, exact at window edges)."""
        ...

    async def correct(self, key: str, window_seconds: float, stamp: float, delta: int) -> None:
        """Adjust an earlier hit's cost by `delta` (estimate -> actual); expires with the original hit."""
        ...

    async def put(
        self, key: str, value: str, ttl_seconds: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store a value (expiring after `ttl_seconds`); with `only_if_absent`, False if the key exists."""
        ...

    async def get(self, key: str) -> str | None:
        """The stored value, or None if absent or expired."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove a value; True if it existed."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """The live kv keys that start with `prefix` (without the storage key prefix), sorted."""
        ...

    async def ping(self) -> None:
        """Raise StorageError if the backend is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the object is unusable afterwards."""
        ...
