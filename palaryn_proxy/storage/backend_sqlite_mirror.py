"""Embedded storage for one proxy process: budget and rate-limit decisions in memory, written behind to SQLite.

A proxy that owns its SQLite file does not need a transaction to decide each call: it keeps the file's live
state in memory (a `MemoryStorage` loaded from the file at start), decides reserve / settle / release / hit /
correct / reset there at once, and journals each change. Every `write_behind_ms` the journal is replayed
into the file in one transaction on the SQLite worker thread, with the same statements a direct call runs,
so the file always converges to what the process decided. What a crash can lose is the journal: the spend
and rate-limit entries of the last `write_behind_ms` (plus the flush under way), and the holds of calls
younger than a second, which are written only once they are that old (see HOLD_AFTER_SECONDS).

Other writers (the CLI's `budget reset`, a second process on the same file) are noticed through SQLite's
`data_version`: after each flush, and once a second while idle, a change by another connection reloads the
mirror from the file, with this process's unflushed changes re-applied on top. Two proxies on one file in
this mode therefore see each other within about a flush interval; for strict sharing use `write_behind_ms=0`
(every call its own transaction) or Redis. Approvals and other kv values are never mirrored: they go to
the file directly.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from palaryn_proxy.errors import StorageError
from palaryn_proxy.storage import sqlite_ops as ops
from palaryn_proxy.storage.backend_memory import MemoryStorage
from palaryn_proxy.storage.backend_sqlite import DEFAULT_BUSY_TIMEOUT_SECONDS, SqliteStorage
from palaryn_proxy.storage.base import (
    Bucket,
    Counter,
    CounterState,
    HitResult,
    ReserveResult,
    SettleResult,
    Snapshot,
)

log = logging.getLogger("palaryn")

IDLE_CHECK_SECONDS = 1.0  # how often an idle proxy looks for another writer's changes
# A reservation still open at a flush is written only once it is this old: most calls settle sooner, and
# then neither their hold nor its removal ever reaches the file (a crash would lose them anyway).
HOLD_AFTER_SECONDS = 1.0
MAX_UNWRITTEN = 200_000  # journal entries kept while the file cannot be written; then calls fail (fail_mode)
# A finished reservation id only guards against a second settle or release of the same call, which in one
# process comes within seconds; kept this long in memory and in the file (write-through callers keep theirs
# for FINISHED_GRACE_SECONDS).
MIRROR_FINISHED_GRACE_SECONDS = 120.0

# One journal entry: (operation, arguments..., now). Replayed into SQLite by `_Replay`, into a reloaded
# mirror by `_reapply`.
Entry = tuple[Any, ...]


def _sync[R](coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never suspends (every MemoryStorage method) to its result, without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: R = done.value
        return result
    coro.close()
    raise RuntimeError("a mirrored storage call suspended")


class MirroredSqliteStorage:
    """The `Storage` protocol on a SQLite file owned by this process (see the module docstring)."""

    def __init__(
        self,
        path: str,
        key_prefix: str = "palaryn:",
        *,
        write_behind_ms: float = 20,
        clock: Callable[[], float] = time.time,
        synchronous: str = "normal",
        busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
    ) -> None:
        self._prefix = key_prefix
        self._path = path
        self._clock = clock
        self._interval = write_behind_ms / 1000
        self._file = SqliteStorage(
            path, key_prefix, clock=clock, synchronous=synchronous, busy_timeout_seconds=busy_timeout_seconds
        )
        self._mirror = MemoryStorage(
            key_prefix, clock=self._mirror_now, finished_grace_seconds=MIRROR_FINISHED_GRACE_SECONDS
        )
        self._journal: list[Entry] = []
        # The next flush. Every decision but a reservation brings it to within `write_behind_ms`; a lazy one
        # (young holds only, or the idle check) is a second out. It runs even while a flush is under way:
        # then the next flush starts as soon as that one ends.
        self._timer: asyncio.TimerHandle | None = None
        self._lazy = False
        self._due_during_flush = False
        self._flushing: asyncio.Task[None] | None = None
        self._failing = False
        self._closing = False  # close() has begun: nothing schedules a flush any more
        self._closed = False
        try:
            self._version, snapshot = self._file.read_now(
                lambda conn, now: (ops.data_version(conn), self._read(conn, now))
            )
        except sqlite3.Error as e:
            self._file.shut()
            raise StorageError(f"cannot read SQLite store {path!r}: {e}") from e
        self._now = clock()
        self._mirror.load(snapshot)
        self._written = {h[1] for h in snapshot.holds}  # reservation ids with holds in the file

    def _mirror_now(self) -> float:
        return self._now

    def _read(self, conn: sqlite3.Connection, now: float) -> Snapshot:
        return ops.snapshot(conn, self._prefix, now, now + MIRROR_FINISHED_GRACE_SECONDS)

    # --- decisions: in memory, journalled -------------------------------------------------------------

    def _decide[R](self, entry: Entry, coro: Coroutine[Any, Any, R], changed: Callable[[R], bool]) -> R:
        if self._closed:
            coro.close()
            raise StorageError(f"SQLite store {self._path!r} is closed")
        if len(self._journal) >= MAX_UNWRITTEN:
            coro.close()
            raise StorageError(
                f"SQLite store {self._path!r}: {len(self._journal)} changes could not be written; refusing more"
            )
        result = _sync(coro)
        if changed(result):
            self._journal.append(entry)
            lazy = entry[0] == "reserve"  # a young hold waits to see whether its call ends first
            if self._timer is None or (self._lazy and not lazy):
                self._schedule(HOLD_AFTER_SECONDS + self._interval if lazy else self._interval, lazy)
        return result

    async def reserve(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int, hold_seconds: float
    ) -> ReserveResult:
        now = self._now = self._clock()
        entry = ("reserve", reservation_id, tuple(counters), nanos, tokens, hold_seconds, now)
        coro = self._mirror.reserve(reservation_id, counters, nanos, tokens, hold_seconds)
        return self._decide(entry, coro, lambda r: r.ok)

    async def settle(
        self, reservation_id: str, counters: Sequence[Counter], nanos: int, tokens: int
    ) -> SettleResult:
        now = self._now = self._clock()
        entry = ("settle", reservation_id, tuple(counters), nanos, tokens, now)
        return self._decide(
            entry, self._mirror.settle(reservation_id, counters, nanos, tokens), lambda r: r.applied
        )

    async def release(self, reservation_id: str, counters: Sequence[Counter]) -> bool:
        now = self._now = self._clock()
        entry = ("release", reservation_id, tuple(counters), now)
        return self._decide(entry, self._mirror.release(reservation_id, counters), bool)

    async def hit(self, buckets: Sequence[Bucket]) -> HitResult:
        now = self._now = self._clock()
        return self._decide(("hit", tuple(buckets), now), self._mirror.hit(buckets), lambda r: r.allowed)

    async def correct(self, key: str, window_seconds: float, stamp: float, delta: int) -> None:
        now = self._now = self._clock()
        entry = ("correct", key, window_seconds, stamp, delta, now)
        self._decide(entry, self._mirror.correct(key, window_seconds, stamp, delta), lambda _: True)

    async def reset(self, key: str) -> None:
        now = self._now = self._clock()
        self._decide(("reset", key, now), self._mirror.reset(key), lambda _: True)

    async def counter(self, key: str) -> CounterState:
        self._now = self._clock()
        return await self._mirror.counter(key)

    async def counters(self, prefix: str) -> dict[str, CounterState]:
        self._now = self._clock()
        return await self._mirror.counters(prefix)

    # --- kv values and health: straight to the file ---------------------------------------------------

    async def put(
        self, key: str, value: str, ttl_seconds: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        return await self._file.put(key, value, ttl_seconds, only_if_absent=only_if_absent)

    async def get(self, key: str) -> str | None:
        return await self._file.get(key)

    async def delete(self, key: str) -> bool:
        return await self._file.delete(key)

    async def keys(self, prefix: str) -> list[str]:
        return await self._file.keys(prefix)

    async def ping(self) -> None:
        if self._failing:
            raise StorageError(
                f"SQLite store {self._path!r}: {len(self._journal)} changes wait to be written"
            )
        await self._file.ping()

    # --- writing behind -------------------------------------------------------------------------------

    def _schedule(self, delay: float, lazy: bool) -> None:
        if self._closing:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._start_flush)
        self._lazy = lazy

    def _start_flush(self) -> None:
        self._timer = None
        if self._closing:
            return
        if self._flushing is not None:
            self._due_during_flush = True
        else:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self, everything: bool = False) -> None:
        """Replay the journal into the file in one transaction; reload the mirror if another writer changed it.
        Young open reservations wait for a later flush unless `everything` (at close)."""
        batch = self._journal
        now = self._clock()
        finished = {e[1] for e in batch if e[0] in ("settle", "release")}
        young = [
            e
            for e in batch
            if not everything
            and e[0] == "reserve"
            and e[1] not in finished
            and now - e[-1] < HOLD_AFTER_SECONDS
        ]
        if young:
            deferred = {id(e) for e in young}
            ready = [e for e in batch if id(e) not in deferred]
        else:
            ready = batch
        self._journal = young
        try:
            try:
                snapshot, self._written = await self._file._run(
                    lambda conn, now: self._write(conn, now, ready, finished)
                )
            except StorageError as e:
                self._journal = batch + self._journal[len(young) :]  # kept, in order, for the next attempt
                if not self._failing:
                    log.warning("SQLite store %s: %d changes not written yet: %s", self._path, len(batch), e)
                self._failing = True
                return
            if self._failing:
                log.warning("SQLite store %s: written again", self._path)
            self._failing = False
            if snapshot is not None:
                self._reload(snapshot)
        finally:
            self._flushing = None
            self._after_flush(failed=bool(self._failing))

    def _after_flush(self, failed: bool) -> None:
        """Start the next flush now when its time came during this one; else make sure one is scheduled:
        a failed write is retried at the interval, young holds and the idle check wait a second."""
        if self._closing:
            return
        if self._due_during_flush:
            self._due_during_flush = False
            self._start_flush()
        elif failed:
            self._schedule(self._interval, lazy=False)
        elif self._timer is None:
            self._schedule(HOLD_AFTER_SECONDS if self._journal else IDLE_CHECK_SECONDS, lazy=True)

    def _write(
        self, conn: sqlite3.Connection, now: float, batch: list[Entry], finished: set[str]
    ) -> tuple[Snapshot | None, set[str]]:
        """On the worker thread, inside one transaction: the snapshot if another writer changed the file, and
        the reservation ids with holds in the file once this commits."""
        written = set(self._written)
        _Replay(self._prefix, written).run(conn, batch, finished)
        version = ops.data_version(conn)
        if version == self._version:
            return None, written
        self._version = version
        snapshot = self._read(conn, now)
        return snapshot, {h[1] for h in snapshot.holds}

    def _reload(self, snapshot: Snapshot) -> None:
        """Another writer changed the file: take its state, then re-apply what this process decided since."""
        self._mirror.load(snapshot)
        saved = self._now
        for entry in self._journal:
            self._now = entry[-1]
            _reapply(self._mirror, entry)
        self._now = saved

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing
        if self._journal:
            self._flushing = asyncio.get_running_loop().create_task(self._flush(everything=True))
            await self._flushing
            if self._journal:
                log.warning("SQLite store %s: %d changes lost at close", self._path, len(self._journal))
        self._closed = True
        await self._file.close()


class _Replay:
    """Journal entries turned into few statements: spend summed per counter window, rate-log entries in
    one insert, and holds written only for reservations still open when they are flushed (see HOLD_AFTER)."""

    def __init__(self, prefix: str, written: set[str]) -> None:
        self.prefix = prefix
        self.written = written  # reservation ids whose holds are in the file
        self.spend: dict[tuple[str, float | None], list[Any]] = {}
        self.logged: list[tuple[str, float, int, float]] = []
        self.totals: dict[str, int] = {}
        self.dropped: list[tuple[str, str]] = []
        self.finished: list[tuple[str, float]] = []

    def run(self, conn: sqlite3.Connection, batch: list[Entry], finished: set[str]) -> None:
        """`finished`: the reservation ids the batch settles or releases."""
        for entry in batch:
            op = entry[0]
            if op == "reserve":
                _, rid, counters, nanos, tokens, hold, now = entry
                if rid not in finished:
                    ops.reserve(
                        conn, self.prefix, rid, counters, (nanos, tokens), now + hold, now, check=False
                    )
                    self.written.add(rid)
            elif op in ("settle", "release"):
                rid, counters = entry[1], entry[2]
                self.finished.append((rid, entry[-1] + MIRROR_FINISHED_GRACE_SECONDS))
                if rid in self.written:
                    self.written.discard(rid)
                    self.dropped += [(self.prefix + c.key, rid) for c in counters]
                if op == "settle":
                    self._spend(counters, entry[3], entry[4], entry[5])
            elif op == "hit":
                _, buckets, now = entry
                for b in buckets:
                    self._log(b.key, now, b.cost, b.window_seconds)
            elif op == "correct":
                _, key, window, stamp, delta, now = entry
                if stamp > now - window:
                    self._log(key, stamp, delta, window)
            elif op == "reset":
                self.write(conn)  # what came before the reset is written, then dropped with it
                ops.reset(conn, self.prefix, entry[1])
            else:  # pragma: no cover - entries are built in this module only
                raise ValueError(f"unknown journal entry {op!r}")
        self.write(conn)

    def _spend(self, counters: Sequence[Counter], nanos: int, tokens: int, now: float) -> None:
        for c in counters:
            slot = self.spend.setdefault((self.prefix + c.key, c.expire_at), [0, 0, now])
            slot[0] += nanos
            slot[1] += tokens
            slot[2] = now

    def _log(self, key: str, stamp: float, cost: int, window: float) -> None:
        full = self.prefix + key
        self.logged.append((full, stamp, cost, stamp + window))
        self.totals[full] = self.totals.get(full, 0) + cost

    def write(self, conn: sqlite3.Connection) -> None:
        if self.finished:
            ops.mark_finished(conn, self.finished)
        if self.dropped:
            ops.drop_holds(conn, self.dropped)
        if self.spend:
            ops.add_spend(conn, [(key, n, t, exp, now) for (key, exp), (n, t, now) in self.spend.items()])
        if self.logged:
            ops.log_costs(conn, self.logged, self.totals)
        self.spend, self.logged, self.totals, self.dropped, self.finished = {}, [], {}, [], []


def _reapply(mirror: MemoryStorage, entry: Entry) -> None:
    op = entry[0]
    if op == "reserve":
        _sync(mirror.reserve(*entry[1:6]))
    elif op == "settle":
        _sync(mirror.settle(*entry[1:5]))
    elif op == "release":
        _sync(mirror.release(*entry[1:3]))
    elif op == "hit":
        _sync(mirror.hit(entry[1]))
    elif op == "correct":
        _sync(mirror.correct(*entry[1:5]))
    elif op == "reset":
        _sync(mirror.reset(entry[1]))
