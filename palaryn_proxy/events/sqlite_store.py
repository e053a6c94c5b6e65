"""The event store on one SQLite file (WAL): one writer connection, a few reader connections in parallel."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from palaryn_proxy.errors import StorageError
from palaryn_proxy.events import schema
from palaryn_proxy.events.rows import FlowRow, rollups, signal_rows, to_ms
from palaryn_proxy.events.store import EventStore

BUSY_TIMEOUT_SECONDS = 10.0
MAX_IDLE_READERS = 4
_IN_CHUNK = 500  # request_ids per duplicate lookup (well under SQLite's variable limit)


def _connect(path: str, *, reader: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: index pages of a large history stay in memory
        conn.execute("PRAGMA mmap_size = 1073741824")
        conn.execute("PRAGMA temp_store = MEMORY")
        if reader:
            conn.execute("PRAGMA query_only = 1")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            # An index rebuilt from the audit log: a power loss may cost the last commits, never consistency.
            conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _insert_new(conn: sqlite3.Connection, rows: list[FlowRow]) -> list[FlowRow]:
    """Insert the rows whose request_id is not stored yet (inside the write transaction); those rows.

    Usually every row is new: one INSERT OR IGNORE says so by its count. Otherwise it is undone and the
    stored request_ids are looked up first (nobody else inserts meanwhile: the transaction holds the lock)."""
    insert = schema.insert_flows_sql("?").replace("INSERT", "INSERT OR IGNORE", 1)
    conn.execute("SAVEPOINT flows")
    if conn.executemany(insert, [row.columns() for row in rows]).rowcount == len(rows):
        conn.execute("RELEASE flows")
        return rows
    conn.execute("ROLLBACK TO flows")
    conn.execute("RELEASE flows")
    existing: set[str] = set()
    ids = [row.request_id for row in rows]
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        found = conn.execute(f"SELECT request_id FROM event_flows WHERE request_id IN ({marks})", chunk)
        existing.update(r[0] for r in found)
    new = [row for row in rows if row.request_id not in existing]
    conn.executemany(insert, [row.columns() for row in new])
    return new


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
        conn.execute("ROLLBACK")


class SqliteEventStore(EventStore):
    """Writes serialise on one connection (and on the file lock across processes); reads run in parallel."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _connect(path, reader=False)
            self._writer.executescript(
                ";\n".join(
                    schema.statements(pk="INTEGER PRIMARY KEY", text="TEXT", clustered=" WITHOUT ROWID")
                )
            )
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"events.url: cannot open the SQLite event store {path!r}: {exc}") from exc
        self._write_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._readers_lock:
            if self._closed:
                raise StorageError(f"the event store {self.path!r} is closed")
            conn = self._readers.pop() if self._readers else None
        if conn is None:
            conn = _connect(self.path, reader=True)
        try:
            yield conn
        finally:
            with self._readers_lock:
                keep = not self._closed and len(self._readers) < MAX_IDLE_READERS
                if keep:
                    self._readers.append(conn)
            if not keep:
                conn.close()

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._reader() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"event store {self.path!r}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction on the writer connection."""
        with self._write_lock:
            if self._closed:
                raise StorageError(f"the event store {self.path!r} is closed")
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise StorageError(f"event store {self.path!r}: {exc}") from exc
            except BaseException:
                _rollback(conn)
                raise

    def _store(self, rows: list[FlowRow]) -> int:
        with self._write() as conn:
            new = _insert_new(conn, rows)
            if not new:
                return 0
            conn.executemany(schema.SIGNALS_INSERT.format(values="?, ?, ?, ?, ?, ?"), signal_rows(new))
            deltas = rollups(new)
            conn.executemany(
                schema.HOURLY_UPSERT.format(values=", ".join("?" * 9)),
                [(*key, *values) for key, values in deltas.totals.items()],
            )
            conn.executemany(
                schema.SPEND_UPSERT.format(values=", ".join("?" * 7)),
                [(dim, hour, group, *values) for (dim, group, hour), values in deltas.spend.items()],
            )
            conn.executemany(
                schema.SIGNALS_UPSERT.format(values=", ".join("?" * 7)),
                [(*key, *values) for key, values in deltas.signals.items()],
            )
            return len(new)

    def prune(self, before: float) -> int:
        before_ms = to_ms(before)
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM event_flows WHERE ts_ms < ?", [before_ms]).rowcount
            if deleted:
                for sql, params in schema.prune_plan(before_ms):
                    conn.execute(sql, params)
        return int(deleted)

    def close(self) -> None:
        with self._write_lock, self._readers_lock:
            if self._closed:
                return
            self._closed = True
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        try:
            self._writer.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass  # statistics are an optimisation; closing must not fail for them
        self._writer.close()
