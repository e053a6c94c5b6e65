"""The write-behind timer on a real SQLite file: no decision waits more than `write_behind_ms` for the file,
whatever the timer was waiting for before (young holds, the idle check, a flush under way); young holds
still reach the file only once their call has been open for a second."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from palaryn_proxy.storage import Bucket, Counter
from palaryn_proxy.storage.backend_sqlite_mirror import HOLD_AFTER_SECONDS, MirroredSqliteStorage

USD = 10**9
PREFIX = "palaryn:"
# write_behind_ms plus a flush, with room for a busy 2-core machine; the old timer took a second here.
PROMPT = 0.25


class File:
    """A second connection on the store's file, read the way another process would."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def spent(self, key: str) -> int:
        row = self.conn.execute("SELECT spent_nanos FROM counters WHERE key = ?", (PREFIX + key,)).fetchone()
        return int(row[0]) if row else 0

    def holds(self) -> set[str]:
        return {rid for (rid,) in self.conn.execute("SELECT rid FROM holds")}

    def rate_total(self, key: str) -> int:
        row = self.conn.execute("SELECT total FROM rate_totals WHERE key = ?", (PREFIX + key,)).fetchone()
        return int(row[0]) if row else 0

    async def seconds_until(self, check, timeout: float = 3.0) -> float:  # type: ignore[no-untyped-def]
        start = time.monotonic()
        while not check():
            assert time.monotonic() - start < timeout, "never reached the file"
            await asyncio.sleep(0.005)
        return time.monotonic() - start


def open_store(tmp_path: Path, write_behind_ms: float = 20) -> tuple[MirroredSqliteStorage, File]:
    path = tmp_path / "p.db"
    mirror = MirroredSqliteStorage(str(path), write_behind_ms=write_behind_ms)
    return mirror, File(path)


async def test_a_settle_while_only_young_holds_wait_is_written_within_the_interval(tmp_path: Path) -> None:
    mirror, file = open_store(tmp_path)
    day = Counter("day")
    try:
        assert (await mirror.reserve("open", [day], USD, 0, 600)).ok  # a long call: its hold is young
        await mirror.settle("first", [day], USD, 0)
        await file.seconds_until(lambda: file.spent("day") == USD)  # flushed; the young hold left behind
        await asyncio.sleep(0.1)
        await mirror.settle("second", [day], 2 * USD, 0)
        assert await file.seconds_until(lambda: file.spent("day") == 3 * USD) < PROMPT
        assert "open" not in file.holds()
    finally:
        await mirror.close()


async def test_a_decision_after_an_idle_flush_is_written_within_the_interval(tmp_path: Path) -> None:
    mirror, file = open_store(tmp_path)
    try:
        await mirror.settle("a", [Counter("day")], USD, 0)
        await file.seconds_until(lambda: file.spent("day") == USD)
        await asyncio.sleep(0.2)  # the next timer is the idle check, a second out
        assert (await mirror.hit([Bucket("rpm", 100, 60, cost=3)])).allowed
        assert await file.seconds_until(lambda: file.rate_total("rpm") == 3) < PROMPT
        await mirror.settle("b", [Counter("day")], USD, 0)
        assert await file.seconds_until(lambda: file.spent("day") == 2 * USD) < PROMPT
    finally:
        await mirror.close()


async def test_a_decision_during_a_slow_flush_is_written_right_after_it(tmp_path: Path, monkeypatch) -> None:
    mirror, file = open_store(tmp_path)
    write = mirror._write
    slow = 0.3

    def slow_write(*args):  # type: ignore[no-untyped-def]
        time.sleep(slow)  # on the SQLite worker thread, inside the flush's transaction
        return write(*args)

    monkeypatch.setattr(mirror, "_write", slow_write)
    try:
        await mirror.settle("a", [Counter("day")], USD, 0)
        await asyncio.sleep(0.05)  # the flush of "a" is under way
        started = time.monotonic()
        await mirror.settle("b", [Counter("day")], USD, 0)
        waited = await file.seconds_until(lambda: file.spent("day") == 2 * USD)
        # "a"'s flush ends ~0.27 s after "b"; "b"'s own flush starts then and takes another `slow`.
        assert waited < 2 * slow + PROMPT, waited
        assert time.monotonic() - started < 1.0
    finally:
        await mirror.close()


async def test_young_holds_stay_in_memory_until_their_call_is_a_second_old(tmp_path: Path) -> None:
    mirror, file = open_store(tmp_path)
    day = Counter("day")
    try:
        started = time.monotonic()
        assert (await mirror.reserve("long", [day], USD, 0, 600)).ok
        assert (await mirror.reserve("short", [day], USD, 0, 600)).ok
        for i in range(5):  # steady decisions keep flushing every write_behind_ms meanwhile
            await asyncio.sleep(0.1)
            await mirror.settle(f"s{i}", [day], 1, 0)
            if i == 1:
                await mirror.settle("short", [day], USD, 0)  # ended young: its hold never reaches the file
        await file.seconds_until(lambda: file.spent("day") == USD + 5)
        assert file.holds() == set()
        assert time.monotonic() - started < HOLD_AFTER_SECONDS
        waited = await file.seconds_until(lambda: "long" in file.holds())
        assert HOLD_AFTER_SECONDS - 0.1 <= time.monotonic() - started < 2 * HOLD_AFTER_SECONDS + PROMPT, (
            waited
        )
        assert file.holds() == {"long"}
    finally:
        await mirror.close()
