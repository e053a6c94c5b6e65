"""The event store on Postgres (psycopg 3 and a small pool), shared by every replica of a fleet."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from palaryn_proxy.errors import StorageError
from palaryn_proxy.events import schema
from palaryn_proxy.events.rows import FLOW_COLUMNS, FlowRow, rollups, signal_rows, to_ms
from palaryn_proxy.events.store import EventStore
from palaryn_proxy.storage.factory import redact_url

CONNECT_TIMEOUT_SECONDS = 10.0
POOL_MAX = 4
_SCHEMA_LOCK = 0x50A1_0017  # advisory lock: replicas starting together create the tables once
_FLOW_TYPES = (
    "text", "bigint", "text", "text", "text", "text", "text", "text", "text", "text",
    "bigint", "bigint", "bigint", "integer", "integer", "text",
)  # fmt: skip
_COLUMNS = ", ".join(FLOW_COLUMNS)
_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS event_flows_in ("
    + ", ".join(f"{c} {t}" for c, t in zip(FLOW_COLUMNS, _FLOW_TYPES, strict=True))
    + ") ON COMMIT DELETE ROWS"
)
_COPY = f"COPY event_flows_in ({_COLUMNS}) FROM STDIN"
# In request_id order: writers inserting some of the same flows wait for each other in one order, no deadlock.
_FROM_STAGING = (
    f"INSERT INTO event_flows ({_COLUMNS}) SELECT {_COLUMNS} FROM event_flows_in ORDER BY request_id "
    "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
)
_HOURLY_TYPES = ("bigint", "text", "text", *["bigint"] * 6)
_SPEND_TYPES = ("text", "bigint", "text", *["bigint"] * 4)
_HSIGNAL_TYPES = ("bigint", "text", "text", "text", "text", "bigint", "bigint")
_SIGNAL_TYPES = ("bigint", "text", "text", "text", "text", "integer")


def _unnest(types: Sequence[str]) -> str:
    return "SELECT * FROM unnest(" + ", ".join(f"%b::{t}[]" for t in types) + ")"


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Row tuples -> one list per column (the arrays unnest takes)."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class PostgresEventStore(EventStore):
    """Every write is one transaction of a few array statements; reads take any pooled connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._where = redact_url(url)
        # The pool would log every failed reconnection; they reach the caller as StorageError instead.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        try:
            # One direct attempt first: a refused connection fails now, not after the pool's retries.
            psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT_SECONDS)).close()
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX,
                kwargs={"autocommit": True},
                open=False,
                name="palaryn-events",
                timeout=CONNECT_TIMEOUT_SECONDS,
            )
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            raise StorageError(
                f"events.url: cannot connect to Postgres at {self._where}: {exc}; check that the server runs "
                "and that the URL's user, host, port and database are right"
            ) from None
        try:
            self._migrate()
        except psycopg.Error as exc:
            self._pool.close()
            raise StorageError(
                f"events.url: cannot create the event tables at {self._where}: {exc}"
            ) from None

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            for statement in schema.statements(
                pk="BIGSERIAL PRIMARY KEY", text='TEXT COLLATE "C"', clustered=""
            ):
                conn.execute(statement)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        except psycopg.Error as exc:
            raise StorageError(f"event store {self._where}: {exc}") from exc

    def _store(self, rows: list[FlowRow]) -> int:
        try:
            with self._pool.connection() as conn, conn.transaction():
                # COPY into a session's temporary table (emptied at commit), then one INSERT that skips the
                # request_ids already stored: several times faster than binding arrays of JSON text.
                conn.execute(_STAGING)
                with conn.cursor().copy(_COPY) as copy:
                    for row in rows:
                        copy.write_row(row.columns())
                stored = {r[0] for r in conn.execute(_FROM_STAGING).fetchall()}
                new = [row for row in rows if row.request_id in stored]
                if not new:
                    return 0
                signals = signal_rows(new)
                if signals:
                    conn.execute(
                        schema.SIGNALS_INSERT.replace("VALUES ({values})", _unnest(_SIGNAL_TYPES)),
                        _columns(signals, len(_SIGNAL_TYPES)),
                    )
                deltas = rollups(new)
                # Sorted keys: replicas upserting the same hours take the row locks in one order (no deadlock).
                spend = sorted((dim, hour, group, *v) for (dim, group, hour), v in deltas.spend.items())
                for sql, types, upserts in (
                    (schema.HOURLY_UPSERT, _HOURLY_TYPES, sorted((*k, *v) for k, v in deltas.totals.items())),
                    (schema.SPEND_UPSERT, _SPEND_TYPES, spend),
                    (
                        schema.SIGNALS_UPSERT,
                        _HSIGNAL_TYPES,
                        sorted((*k, *v) for k, v in deltas.signals.items()),
                    ),
                ):
                    if upserts:
                        conn.execute(
                            sql.replace("VALUES ({values})", _unnest(types)),
                            _columns(upserts, len(types)),
                        )
                return len(new)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            # The batch itself cannot be stored: retrying would not help (EventSink drops it, counted).
            raise ValueError(f"event store {self._where}: a record cannot be stored: {exc}") from exc
        except psycopg.Error as exc:
            raise StorageError(f"event store {self._where}: {exc}") from exc

    def prune(self, before: float) -> int:
        before_ms = to_ms(before)
        try:
            with self._pool.connection() as conn, conn.transaction():
                deleted = conn.execute("DELETE FROM event_flows WHERE ts_ms < %s", [before_ms]).rowcount
                if deleted:
                    for sql, params in schema.prune_plan(before_ms):
                        conn.execute(sql.replace("?", "%s"), params)
        except psycopg.Error as exc:
            raise StorageError(f"event store {self._where}: {exc}") from exc
        return int(deleted)

    def close(self) -> None:
        self._pool.close()
