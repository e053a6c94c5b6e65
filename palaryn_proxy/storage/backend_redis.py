"""Shared storage for several proxy replicas: Redis, every check-and-update one Lua script, keys prefixed and expiring.

Key layout (all under the configured prefix): `b:<counter>` budget counter hash, `r:<reservation id>`
reservation record, `rl:<bucket>` + `rm:<bucket>` rate-limit log and totals, `kv:<key>` plain values.
Clocks come from the Redis server (`TIME`), so replicas with skewed clocks still agree. Standalone Redis
(or Sentinel) only: the multi-key scripts do not hash-tag keys for Redis Cluster.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence
from importlib.resources import files
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage.base import (
    FINISHED_GRACE_SECONDS,
    Bucket,
    Counter,
    CounterState,
    HitResult,
    ReserveResult,
    SettleResult,
)

T = TypeVar("T")

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_GRACE_MS = str(int(FINISHED_GRACE_SECONDS * 1000))


def _ms(seconds: float) -> int:
    return max(int(round(seconds * 1000)), 1)


def _expire_ms(counter: Counter) -> str:
    return "" if counter.expire_at is None else str(int(counter.expire_at * 1000))


def _limit(value: int | None) -> str:
    return "" if value is None else str(value)


def _states(flat: Sequence[int]) -> tuple[CounterState, ...]:
    return tuple(CounterState(*flat[i : i + 4]) for i in range(0, len(flat), 4))


class RedisStorage:
    """The `Storage` protocol on Redis through `redis.asyncio`; reconnects by itself once Redis is back."""

    def __init__(self, url: str, key_prefix: str = "palaryn:", *, timeout_seconds: float = 2.0) -> None:
        self._prefix = key_prefix
        self._client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            # Every script is safe to retry: reserve/settle/release are idempotent per reservation id.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        )
        kw = self._client.connection_pool.connection_kwargs
        self._where = f"{kw.get('host', kw.get('path', '?'))}:{kw.get('port', '')}/{kw.get('db', 0)}"
        self._scripts = {name: self._load(name) for name in ("reserve", "finish", "read", "hit", "correct")}

    def _load(self, name: str) -> AsyncScript:
        text = (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")
        return self._client.register_script(text)

    async def _call(self, op: Awaitable[T]) -> T:
        try:
            return await op
        except (RedisError, OSError) as e:
            raise StorageError(f"Redis store at {self._where} failed: {type(e).__name__}: {e}") from e

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._call(self._scripts[name](keys=keys, args=args))

    def _counter_keys(self, counters: Sequence[Counter]) -> list[str]:
        return [f"{self._prefix}b:{c.key}" for c in counters]

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int, hold_seconds: float
    ) -> ReserveResult:
        keys = [f"{self._prefix}r:{reservation_id}", *self._counter_keys(counters)]
        args: list[Any] = [reservation_id, nanos, tokens, _ms(hold_seconds), _GRACE_MS]
        for c in counters:
            args += [_limit(c.limit_nanos), _limit(c.limit_tokens), _expire_ms(c)]
        out = await self._script("reserve", keys, args)
        status, blocked, states = int(out[0]), int(out[1]), _states(out[2:])
        if status == 2:
            return ReserveResult(False, ())
        return ReserveResult(status == 1, states, blocked - 1 if status == 0 else None)

    async def _finish(
        self, reservation_id: str, counters: Sequence[Counter], mode: str, nanos: int, tokens: int
    ) -> list[int]:
        keys = [f"{self._prefix}r:{reservation_id}", *self._counter_keys(counters)]
        args: list[Any] = [reservation_id, mode, nanos, tokens, _GRACE_MS, *(_expire_ms(c) for c in counters)]
        return [int(x) for x in await self._script("finish", keys, args)]

    async def settle(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int
    ) -> SettleResult:
        out = await self._finish(reservation_id, counters, "settle", nanos, tokens)
        if out[0] == 0:
            return SettleResult(False)
        return SettleResult(True, tuple((out[i], out[i + 1]) for i in range(1, len(out), 2)))

    async def release(self, reservation_id: str, counters: Sequence[Counter]) -> bool:
        out = await self._finish(reservation_id, counters, "release", 0, 0)
        return out[0] == 1

    async def counter(self, key: str) -> CounterState:
        out = await self._script("read", [f"{self._prefix}b:{key}"], [])
        return CounterState(*(int(x) for x in out))

    async def counters(self, prefix: str) -> dict[str, CounterState]:
        head = f"{self._prefix}b:"
        pattern = head + _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        found: dict[str, CounterState] = {}

        async def scan() -> list[str]:
            return [k async for k in self._client.scan_iter(match=pattern, count=500)]

        for full in await self._call(scan()):
            found[full[len(head) :]] = await self.counter(full[len(head) :])
        return found

    async def reset(self, key: str) -> None:
        await self._call(self._client.delete(f"{self._prefix}b:{key}"))

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        if not buckets:
            return HitResult(True, 0.0, 0, 0.0)
        keys: list[str] = []
        args: list[Any] = []
        for b in buckets:
            keys += [f"{self._prefix}rl:{b.key}", f"{self._prefix}rm:{b.key}"]
            args += [b.limit, _ms(b.window_seconds), b.cost]
        out = [int(x) for x in await self._script("hit", keys, args)]
        allowed, blocked, wait_ms, remaining, now_ms = out
        return HitResult(
            bool(allowed), wait_ms / 1000, remaining, now_ms / 1000, blocked - 1 if blocked else None
        )

    async def correct(self, key: str, window_seconds: float, stamp: float, delta: int) -> None:
        keys = [f"{self._prefix}rl:{key}", f"{self._prefix}rm:{key}"]
        await self._script("correct", keys, [_ms(window_seconds), int(round(stamp * 1000)), delta])

    async def put(
        self, key: str, value: str, ttl_seconds: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl_seconds is None else _ms(ttl_seconds)
        done = await self._call(self._client.set(f"{self._prefix}kv:{key}", value, px=px, nx=only_if_absent))
        return bool(done)

    async def get(self, key: str) -> str | None:
        value = await self._call(self._client.get(f"{self._prefix}kv:{key}"))
        return None if value is None else str(value)

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._client.delete(f"{self._prefix}kv:{key}")))

    async def keys(self, prefix: str) -> list[str]:
        head = f"{self._prefix}kv:"
        pattern = head + _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"

        async def scan() -> list[str]:
            return [k async for k in self._client.scan_iter(match=pattern, count=500)]

        return sorted(full[len(head) :] for full in await self._call(scan()))

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
