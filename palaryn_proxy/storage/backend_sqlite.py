"""Embedded durable storage: one SQLite file in WAL mode, written from one worker thread, shared across processes."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage import sqlite_ops as ops
from palaryn_proxy.storage.base import Bucket, Counter, CounterState, HitResult, ReserveResult, SettleResult

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_SECONDS = 5.0
_PURGE_EVERY = 1000
SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}
# Rate-limit corrections ride along with the next transaction; without one, a flush runs after this delay.
CORRECTION_DELAY_SECONDS = 0.25
MAX_BATCH = 64  # calls queued while the worker was busy share one transaction (each in its own savepoint)

Work = Callable[[sqlite3.Connection, float], Any]


@dataclass(slots=True)
class _Call:
    fn: Work
    write: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _connect(path: str, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        # Rows here are small, and a commit writes each page it dirtied to the WAL: 1 KiB pages cut the
        # commit, the largest cost of a call, by about a fifth. Only a new file takes it; others keep theirs.
        conn.execute("PRAGMA page_size = 1024")
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a committed settle survives a process crash; FULL (?synchronous=full in the URL)
        # also survives power loss, at the price of an fsync per transaction.
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[synchronous]}")
        conn.executescript(ops.SCHEMA)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


class SqliteStorage:
    """The `Storage` protocol on one SQLite file.

    Each call runs in a `BEGIN IMMEDIATE` transaction on a dedicated worker thread, so the event loop
    never blocks on disk and writers in other processes (the CLI, a second proxy) serialise on the file lock.
    Calls that queue up while the worker is busy share one transaction (group commit), each inside its own
    savepoint: a call that fails is rolled back alone, and one commit and one wake-up serve the batch.
    `correct` (the token count a finished call actually used) returns at once: it is applied inside this
    process's next transaction, at most CORRECTION_DELAY_SECONDS later, saving a round trip per LLM call.
    """

    def __init__(
        self,
        path: str,
        key_prefix: str = "palaryn:",
        *,
        busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
        synchronous: str = "normal",
    ) -> None:
        self._prefix = key_prefix
        self._clock = clock
        self._path = path
        try:
            self._conn = _connect(path, busy_timeout_seconds, synchronous)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(f"cannot open SQLite store {path!r}: {e}") from e
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._serve, name="palaryn-sqlite", daemon=True)
        self._writes = 0
        self._closed = False
        self._corrections: deque[tuple[str, float, float, int]] = deque()  # appended on the loop, popped here
        self._flush: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._worker.start()

    def _serve(self) -> None:
        """The worker thread: take a call and whatever queued behind it, run them, hand the outcomes back."""
        while True:
            first = self._calls.get()
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < MAX_BATCH:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                if call is None:
                    stop = True
                    break
                batch.append(call)
            outcomes = self._transaction(batch)
            loops: dict[asyncio.AbstractEventLoop, list[tuple[_Call, bool, Any]]] = {}
            for call, (ok, value) in zip(batch, outcomes, strict=True):
                loops.setdefault(call.loop, []).append((call, ok, value))
            for loop, done in loops.items():
                try:
                    loop.call_soon_threadsafe(_resolve, done)
                except RuntimeError:
                    pass  # that event loop is closed: nobody waits for these results
            if stop:
                return

    def _transaction(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        """Run the calls in one transaction (immediate when one writes), each in a savepoint when there
        are several; (ok, result or exception) per call. On the worker thread only."""
        conn = self._conn
        write = bool(self._corrections) or any(c.write for c in batch)
        applied: list[tuple[str, float, float, int]] = []
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            now = self._clock()
            while self._corrections:
                key, window, stamp, delta = item = self._corrections.popleft()
                applied.append(item)
                ops.correct(conn, self._prefix, key, window, stamp, delta, now)
            if len(batch) == 1:
                outcomes.append((True, batch[0].fn(conn, now)))
            else:
                for call in batch:
                    outcomes.append(_in_savepoint(conn, call.fn, now))
            if write:
                self._writes += 1
                if self._writes % _PURGE_EVERY == 0:
                    ops.purge(conn, self._clock())
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - reported to every caller of the batch
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._corrections.extendleft(reversed(applied))  # rolled back: apply them next time
            return [(False, exc)] * len(batch)
        return outcomes

    async def _run(self, fn: Callable[[sqlite3.Connection, float], T], write: bool = True) -> T:
        if self._closed:
            raise StorageError(f"SQLite store {self._path!r} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put(_Call(fn, write, loop, future))
        try:
            return await future
        except sqlite3.Error as e:
            raise StorageError(f"SQLite store {self._path!r} failed: {e}") from e

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int, hold_seconds: float
    ) -> ReserveResult:
        def fn(conn: sqlite3.Connection, now: float) -> ReserveResult:
            until = now + hold_seconds
            return ops.reserve(conn, self._prefix, reservation_id, counters, (nanos, tokens), until, now)

        return await self._run(fn)

    async def settle(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int
    ) -> SettleResult:
        def fn(conn: sqlite3.Connection, now: float) -> SettleResult:
            return ops.settle(conn, self._prefix, reservation_id, counters, (nanos, tokens), now)

        return await self._run(fn)

    async def release(self, reservation_id: str, counters: Sequence[Counter]) -> bool:
        return await self._run(
            lambda conn, now: ops.release(conn, self._prefix, reservation_id, counters, now)
        )

    async def counter(self, key: str) -> CounterState:
        return await self._run(lambda conn, now: ops.counter(conn, self._prefix, key, now), write=False)

    async def counters(self, prefix: str) -> dict[str, CounterState]:
        return await self._run(lambda conn, now: ops.counters(conn, self._prefix, prefix, now), write=False)

    async def reset(self, key: str) -> None:
        await self._run(lambda conn, now: ops.reset(conn, self._prefix, key))

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        return await self._run(lambda conn, now: ops.hit(conn, self._prefix, buckets, now))

    async def correct(self, key: str, window_seconds: float, stamp: float, delta: int) -> None:
        if self._closed:
            raise StorageError(f"SQLite store {self._path!r} is closed")
        self._corrections.append((key, window_seconds, stamp, delta))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(
                CORRECTION_DELAY_SECONDS, self._flush_corrections
            )

    def _flush_corrections(self) -> None:
        self._flush = None
        if self._corrections and not self._closed:
            task = asyncio.get_running_loop().create_task(self._apply_corrections())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _apply_corrections(self) -> None:
        try:
            await self._run(lambda conn, now: None)
        except StorageError:
            pass  # kept queued: the next transaction applies them

    async def put(
        self, key: str, value: str, ttl_seconds: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        def fn(conn: sqlite3.Connection, now: float) -> bool:
            expire_at = None if ttl_seconds is None else now + ttl_seconds
            return ops.put(conn, self._prefix + key, value, expire_at, only_if_absent, now)

        return await self._run(fn)

    async def get(self, key: str) -> str | None:
        return await self._run(lambda conn, now: ops.get(conn, self._prefix + key, now), write=False)

    async def delete(self, key: str) -> bool:
        return await self._run(lambda conn, now: ops.delete(conn, self._prefix + key, now))

    async def keys(self, prefix: str) -> list[str]:
        full = self._prefix + prefix
        return await self._run(
            lambda conn, now: [k[len(self._prefix) :] for k in ops.keys(conn, full, now)], write=False
        )

    async def ping(self) -> None:
        await self._run(lambda conn, now: conn.execute("SELECT 1").fetchone(), write=False)

    def read_now[R](self, fn: Callable[[sqlite3.Connection, float], R]) -> R:
        """Run `fn` on the connection in the calling thread: for start-up, before any call is queued."""
        return fn(self._conn, self._clock())

    def shut(self) -> None:
        """Stop the worker and close the file at once, blocking (a start-up that failed half-way)."""
        self._closed = True
        self._calls.put(None)
        self._worker.join()
        self._conn.close()

    async def close(self) -> None:
        if self._closed:
            return
        if self._flush is not None:
            self._flush.cancel()
        if self._corrections:
            await self._apply_corrections()  # if that fails they are lost; their windows expire anyway
        self._closed = True
        self._calls.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._worker.join)
        self._conn.close()


def _in_savepoint(conn: sqlite3.Connection, fn: Work, now: float) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT call")
    try:
        result = fn(conn, now)
    except Exception as exc:  # noqa: BLE001 - this call alone is rolled back; the batch goes on
        conn.execute("ROLLBACK TO call")
        conn.execute("RELEASE call")
        return False, exc
    conn.execute("RELEASE call")
    return True, result


def _resolve(done: list[tuple[_Call, bool, Any]]) -> None:
    """On the caller's event loop: complete the futures of a batch (skipping callers that gave up)."""
    for call, ok, value in done:
        if call.future.done():
            continue
        if ok:
            call.future.set_result(value)
        else:
            call.future.set_exception(value)
