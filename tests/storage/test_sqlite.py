"""SQLite-only guarantees: durable across reopen, readable from another process, StorageError when locked."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage import (
    Bucket,
    Counter,
    CounterState,
    backend_sqlite,
    backend_sqlite_mirror,
    open_storage,
)
from palaryn_proxy.storage.backend_sqlite import SqliteStorage

USD = 10**9

READER = """
import asyncio, json, sys
from palaryn_proxy.storage import open_storage

async def main():
    store = open_storage(sys.argv[1])
    state = await store.counter("budget:day")
    listed = await store.counters("budget:")
    await store.close()
    print(json.dumps({"spent": state.spent_nanos, "reserved": state.reserved_nanos, "keys": sorted(listed)}))

asyncio.run(main())
"""


BOTH_MODES = pytest.mark.parametrize("query", ["?write_behind_ms=0", ""], ids=["write-through", "mirrored"])


@BOTH_MODES
async def test_another_process_sees_what_the_proxy_wrote(tmp_path: Path, query: str) -> None:
    url = f"sqlite://{tmp_path}/palaryn.db{query}"
    store = open_storage(url)
    c = Counter("budget:day", limit_nanos=10 * USD)
    try:
        await store.reserve("settled", [c], 2 * USD, 1, 60)
        await store.settle("settled", [c], USD, 1)
        await store.reserve("open", [c], 3 * USD, 1, 60)
        # mirrored: written behind within write_behind_ms (20); a hold once it is HOLD_AFTER_SECONDS old
        await asyncio.sleep(0 if query else backend_sqlite_mirror.HOLD_AFTER_SECONDS + 0.2)
        # The proxy keeps running (connection open) while the CLI reads from a separate process.
        out = subprocess.run([sys.executable, "-c", READER, url], capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == {"spent": USD, "reserved": 3 * USD, "keys": ["budget:day"]}
    finally:
        await store.close()


@BOTH_MODES
async def test_state_survives_close_and_reopen(tmp_path: Path, query: str) -> None:
    url = f"sqlite://{tmp_path}/p.db{query}"
    store = open_storage(url)
    await store.settle("r", [Counter("k")], 5, 6)
    await store.put("approval", "granted")
    await store.close()
    again = open_storage(url)
    try:
        assert await again.counter("k") == CounterState(5, 6, 0, 0)
        assert await again.get("approval") == "granted"
        assert not (await again.settle("r", [Counter("k")], 5, 6)).applied
    finally:
        await again.close()
    with sqlite3.connect(tmp_path / "p.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_locked_file_raises_storage_error_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SqliteStorage(str(path), busy_timeout_seconds=0.1)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageError, match="locked"):
            await store.reserve("r", [Counter("c", limit_nanos=USD)], 1, 1, 60)
        blocker.execute("ROLLBACK")
        assert (await store.reserve("r", [Counter("c", limit_nanos=USD)], 1, 1, 60)).ok
    finally:
        blocker.close()
        await store.close()


@BOTH_MODES
async def test_closed_store_raises_storage_error(tmp_path: Path, query: str) -> None:
    store = open_storage(f"sqlite://{tmp_path}/c.db{query}")
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.get("k")
    with pytest.raises(StorageError, match="closed"):
        await store.settle("r", [Counter("k")], 1, 1)


def test_unopenable_path_raises_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageError, match="cannot open"):
        open_storage(f"sqlite://{tmp_path}/file/palaryn.db")


async def test_a_correction_reaches_other_replicas_within_the_delay_and_survives_close(
    tmp_path: Path,
) -> None:
    url = f"sqlite://{tmp_path}/p.db?write_behind_ms=0"
    proxy, replica = open_storage(url), open_storage(url)
    try:
        hit = await proxy.hit([Bucket("tok", limit=100, window_seconds=60, cost=90)])
        await proxy.correct("tok", 60, hit.stamp, -80)  # returns at once: applied with a later transaction
        await asyncio.sleep(backend_sqlite.CORRECTION_DELAY_SECONDS + 0.3)
        assert (await replica.hit([Bucket("tok", 100, 60, cost=85)])).allowed  # 10 + 85 <= 100
        await proxy.correct("tok", 60, hit.stamp, 80)  # back to 90 + 85 = 175, queued
        await proxy.close()  # close applies what is queued
        assert not (await replica.hit([Bucket("tok", 100, 60, cost=1)])).allowed
    finally:
        await proxy.close()
        await replica.close()


async def test_calls_queued_together_share_a_transaction_yet_fail_alone(tmp_path: Path) -> None:
    store = SqliteStorage(str(tmp_path / "p.db"))
    batches: list[int] = []
    original = store._transaction

    def counting(batch: list) -> list:  # type: ignore[type-arg]
        batches.append(len(batch))
        return original(batch)

    store._transaction = counting  # type: ignore[method-assign]

    def broken(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("INSERT INTO kv (key, value) VALUES ('palaryn:half-done', 'x')")
        raise ValueError("this call fails after writing")

    try:
        calls = [store.settle(f"r{i}", [Counter("day")], 1, 1) for i in range(40)]
        calls.insert(20, store._run(broken))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(outcomes[20], ValueError)
        assert all(o.applied for i, o in enumerate(outcomes) if i != 20)  # type: ignore[union-attr]
        assert await store.counter("day") == CounterState(40, 40, 0, 0)
        assert await store.get("half-done") is None  # the failing call was rolled back on its own
        assert max(batches) > 1  # the calls did share transactions
    finally:
        await store.close()
