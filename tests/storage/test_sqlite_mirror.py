"""The mirrored SQLite store: decisions in memory, written behind, reloaded when another writer changes the file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage import Bucket, Counter, CounterState, backend_sqlite_mirror
from palaryn_proxy.storage.backend_sqlite import SqliteStorage
from palaryn_proxy.storage.backend_sqlite_mirror import MirroredSqliteStorage

USD = 10**9


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_decisions_reach_the_file_at_the_next_flush_and_at_close(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    mirror = MirroredSqliteStorage(path, write_behind_ms=5000)  # no flush during the test: only close writes
    file = SqliteStorage(path)
    day = Counter("day", limit_nanos=10 * USD)
    try:
        assert (await mirror.reserve("a", [day], 4 * USD, 10, 60)).ok
        assert (await mirror.settle("a", [day], 3 * USD, 7)).applied
        assert (await mirror.reserve("b", [day], 2 * USD, 5, 60)).ok
        assert (await mirror.hit([Bucket("rpm", 10, 60, cost=4)])).allowed
        assert await mirror.counter("day") == CounterState(3 * USD, 7, 2 * USD, 5)
        assert await file.counter("day") == CounterState()  # decided, not yet written
        await mirror.close()
        assert await file.counter("day") == CounterState(3 * USD, 7, 2 * USD, 5)
        assert not (await file.hit([Bucket("rpm", 10, 60, cost=7)])).allowed  # 4 + 7 > 10
        assert not (await file.settle("a", [day], 1, 1)).applied  # finished in the file too
    finally:
        await mirror.close()
        await file.close()


async def test_written_behind_within_the_interval(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    mirror, file = MirroredSqliteStorage(path, write_behind_ms=20), SqliteStorage(path)
    try:
        await mirror.settle("a", [Counter("k")], 5, 6)

        async def written() -> bool:
            return await file.counter("k") == CounterState(5, 6, 0, 0)

        await eventually(written, timeout=1.0)
    finally:
        await mirror.close()
        await file.close()


async def test_restart_keeps_holds_and_rate_windows(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    first = MirroredSqliteStorage(path)
    pool = Counter("pool", limit_nanos=5 * USD)
    assert (await first.reserve("held", [pool], 3 * USD, 0, 600)).ok
    assert (await first.hit([Bucket("rpm", 100, 60, cost=90)])).allowed
    await first.close()
    second = MirroredSqliteStorage(path)
    try:
        assert not (await second.reserve("more", [pool], 3 * USD, 0, 600)).ok
        assert not (await second.hit([Bucket("rpm", 100, 60, cost=20)])).allowed
        assert (await second.hit([Bucket("rpm", 100, 60, cost=10)])).allowed
        assert (await second.settle("held", [pool], USD, 0)).applied  # the hold from before the restart
        assert await second.counter("pool") == CounterState(USD, 0, 0, 0)
    finally:
        await second.close()


async def test_another_writers_reset_reaches_the_mirror_and_unwritten_changes_survive_it(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "p.db")
    mirror, cli = MirroredSqliteStorage(path, write_behind_ms=20), SqliteStorage(path)
    day = Counter("day", limit_nanos=10 * USD)
    try:
        await mirror.settle("a", [day], 9 * USD, 0)
        assert not (await mirror.reserve("b", [day], 2 * USD, 0, 60)).ok

        async def written() -> bool:
            return (await cli.counter("day")).spent_nanos == 9 * USD

        await eventually(written)
        await cli.reset("day")  # `palaryn-proxy budget reset` from another process
        await mirror.settle("c", [day], USD, 0)  # decided before the mirror noticed the reset

        async def reloaded() -> bool:
            return await mirror.counter("day") == CounterState(USD, 0, 0, 0)

        await eventually(reloaded)  # the idle check notices within a second
        assert (await mirror.reserve("d", [day], 8 * USD, 0, 60)).ok
        await mirror.close()
        assert await cli.counter("day") == CounterState(USD, 0, 8 * USD, 0)
    finally:
        await mirror.close()
        await cli.close()


async def test_a_locked_file_delays_writes_not_decisions(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    mirror = MirroredSqliteStorage(str(path), write_behind_ms=10, busy_timeout_seconds=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    day = Counter("day", limit_nanos=10 * USD)
    try:
        await mirror.ping()
        blocker.execute("BEGIN EXCLUSIVE")
        for i in range(5):
            assert (await mirror.settle(f"r{i}", [day], USD, 1)).applied  # decided while the file is locked

        async def not_ready() -> bool:
            try:
                await mirror.ping()
            except StorageError as e:
                return "wait to be written" in str(e)
            return False

        await eventually(not_ready)
        blocker.execute("ROLLBACK")

        async def ready() -> bool:
            try:
                await mirror.ping()
            except StorageError:
                return False
            return True

        await eventually(ready)
    finally:
        blocker.close()
        await mirror.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT spent_nanos FROM counters WHERE key = 'palaryn:day'").fetchone() == (
            5 * USD,
        )


async def test_unwritten_changes_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_sqlite_mirror, "MAX_UNWRITTEN", 3)
    path = tmp_path / "locked.db"
    mirror = MirroredSqliteStorage(str(path), write_behind_ms=5000, busy_timeout_seconds=0.05)
    try:
        for i in range(3):
            await mirror.settle(f"r{i}", [Counter("k")], 1, 1)
        with pytest.raises(StorageError, match="could not be written"):
            await mirror.settle("r3", [Counter("k")], 1, 1)
    finally:
        await mirror.close()


async def test_holds_reach_the_file_only_for_calls_still_open_after_hold_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_sqlite_mirror, "HOLD_AFTER_SECONDS", 0.3)
    path = str(tmp_path / "p.db")
    mirror, file = MirroredSqliteStorage(path, write_behind_ms=10), SqliteStorage(path)
    day = Counter("day", limit_nanos=10 * USD)
    inserted: list[str] = []
    try:
        await mirror._file._run(lambda conn, now: conn.set_trace_callback(inserted.append))
        for i in range(20):  # short calls: reserved and settled between two flushes or across one
            assert (await mirror.reserve(f"short{i}", [day], USD, 1, 60)).ok
            await asyncio.sleep(0.002)
            assert (await mirror.settle(f"short{i}", [day], 1000, 1)).applied
        assert (await mirror.reserve("long", [day], 2 * USD, 5, 60)).ok

        async def long_hold_written() -> bool:
            return (await file.counter("day")).reserved_nanos == 2 * USD

        await eventually(long_hold_written)
        assert await file.counter("day") == CounterState(20_000, 20, 2 * USD, 5)
        assert sum("INSERT OR REPLACE INTO holds" in sql for sql in inserted) == 1  # only the long call's
        assert (await mirror.settle("long", [day], 3000, 2)).applied
        await mirror.close()
        assert await file.counter("day") == CounterState(23_000, 22, 0, 0)
    finally:
        await mirror.close()
        await file.close()
