"""Expired state is dropped, not just ignored: memory and SQLite stay bounded on a long-running proxy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from palaryn_proxy.storage import Bucket, Counter
from palaryn_proxy.storage.backend_memory import MemoryStorage
from palaryn_proxy.storage.backend_sqlite import SqliteStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def fill_then_expire(store: MemoryStorage | SqliteStorage, clock: Clock) -> None:
    for i in range(20):
        c = Counter(f"c{i}", limit_nanos=10, expire_at=clock.now + 60)
        await store.reserve(f"r{i}", [c], 1, 1, 30)
        await store.settle(f"s{i}", [c], 1, 1)
        await store.hit([Bucket(f"b{i}", 5, 60)])
        await store.put(f"k{i}", "v", 60)
    clock.now += 7200  # every window, hold, log entry, value and finished id has lapsed
    for _ in range(1100):
        await store.hit([Bucket("live", 10**6, 10**6)])


async def test_memory_drops_expired_state() -> None:
    clock = Clock()
    store = MemoryStorage(clock=clock)
    await fill_then_expire(store, clock)
    assert store._counters == {} and store._finished == {} and store._kv == {}
    assert list(store._logs) == ["palaryn:live"]


async def test_sqlite_drops_expired_rows(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteStorage(str(tmp_path / "h.db"), clock=clock)
    await fill_then_expire(store, clock)
    await store.close()
    with sqlite3.connect(tmp_path / "h.db") as conn:
        counts = {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("counters", "holds", "finished", "kv")
        }
        keys = {row[0] for row in conn.execute("SELECT DISTINCT key FROM rate_log")}
    assert counts == {"counters": 0, "holds": 0, "finished": 0, "kv": 0}
    assert keys == {"palaryn:live"}
