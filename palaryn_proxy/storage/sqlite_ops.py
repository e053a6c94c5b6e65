"""The SQLite backend's transactions as plain functions on a connection (called only from its worker thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from palaryn_proxy.storage._rules import admits, retry_after, window_admits
from palaryn_proxy.storage.base import (
    FINISHED_GRACE_SECONDS,
    Bucket,
    Counter,
    CounterState,
    HitResult,
    ReserveResult,
    SettleResult,
    Snapshot,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, spent_nanos INTEGER NOT NULL DEFAULT 0,
    spent_tokens INTEGER NOT NULL DEFAULT 0, expire_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    key TEXT NOT NULL, rid TEXT NOT NULL, nanos INTEGER NOT NULL, tokens INTEGER NOT NULL,
    until REAL NOT NULL, PRIMARY KEY (key, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finished (rid TEXT PRIMARY KEY, forget_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_log (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, stamp REAL NOT NULL, cost INTEGER NOT NULL,
    expire_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_log_key_stamp ON rate_log (key, stamp);
CREATE INDEX IF NOT EXISTS rate_log_expire ON rate_log (expire_at);
CREATE TABLE IF NOT EXISTS rate_totals (key TEXT PRIMARY KEY, total INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expire_at REAL) WITHOUT ROWID;
"""


# A counter and the live holds on it (except one reservation's) in one statement; no row means zeros.
_STATE = (
    "SELECT c.spent_nanos, c.spent_tokens, c.expire_at,"
    " (SELECT COALESCE(SUM(nanos), 0) FROM holds WHERE key = ?1 AND until > ?2 AND rid != ?3),"
    " (SELECT COALESCE(SUM(tokens), 0) FROM holds WHERE key = ?1 AND until > ?2 AND rid != ?3),"
    " c.key IS NOT NULL"
    " FROM (SELECT 1) LEFT JOIN counters AS c ON c.key = ?1"
)
# Settle adds to a counter, starting it afresh when its window ended (the CASEs read the old row).
_ADD_SPEND_ROW = (
    "INSERT INTO counters (key, spent_nanos, spent_tokens, expire_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (key) DO UPDATE SET"
    " spent_nanos = CASE WHEN counters.expire_at <= ?5 THEN ?2 ELSE counters.spent_nanos + ?2 END,"
    " spent_tokens = CASE WHEN counters.expire_at <= ?5 THEN ?3 ELSE counters.spent_tokens + ?3 END,"
    " expire_at = CASE WHEN counters.expire_at <= ?5 THEN ?4 ELSE COALESCE(?4, counters.expire_at) END"
)
_ADD_SPEND = _ADD_SPEND_ROW + " RETURNING spent_nanos, spent_tokens"


def _drop(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM counters WHERE key = ?", (key,))
    conn.execute("DELETE FROM holds WHERE key = ?", (key,))


def _state(conn: sqlite3.Connection, key: str, now: float, skip: str = "") -> CounterState:
    nanos, tokens, expire_at, held_nanos, held_tokens, _ = conn.execute(_STATE, (key, now, skip)).fetchone()
    if expire_at is not None and expire_at <= now:
        nanos = tokens = 0  # the window ended: what is left is dropped by the next write
    return CounterState(nanos or 0, tokens or 0, held_nanos, held_tokens)


def _touch(conn: sqlite3.Connection, counter: Counter, key: str) -> None:
    conn.execute(
        "INSERT INTO counters (key, expire_at) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET expire_at = COALESCE(excluded.expire_at, counters.expire_at)",
        (key, counter.expire_at),
    )


def _is_finished(conn: sqlite3.Connection, rid: str, now: float) -> bool:
    row = conn.execute("SELECT forget_at FROM finished WHERE rid = ?", (rid,)).fetchone()
    return row is not None and row[0] > now


def reserve(
    conn: sqlite3.Connection,
    prefix: str,
    rid: str,
    counters: Sequence[Counter],
    amount: tuple[int, int],
    until: float,
    now: float,
    check: bool = True,
) -> ReserveResult:
    """Hold `amount` on every counter if all admit it; `check=False` holds it unconditionally (replaying a
    decision already taken elsewhere, see backend_sqlite_mirror)."""
    if _is_finished(conn, rid, now):
        return ReserveResult(False, ())
    keys = [prefix + c.key for c in counters]
    states: list[CounterState] = []
    stale: list[bool] = []  # the counter's row is missing, ended (dropped here) or has another expiry
    for counter, key in zip(counters, keys, strict=True):
        nanos, tokens, expire_at, held_nanos, held_tokens, present = conn.execute(
            _STATE, (key, now, rid)
        ).fetchone()
        if expire_at is not None and expire_at <= now:
            _drop(conn, key)  # its window ended, and the holds taken in it go with it
            nanos = tokens = held_nanos = held_tokens = present = 0
        states.append(CounterState(nanos or 0, tokens or 0, held_nanos, held_tokens))
        stale.append(not present or (counter.expire_at is not None and counter.expire_at != expire_at))
    for i, (counter, state) in enumerate(zip(counters, states, strict=True)):
        if check and not admits(counter, state, *amount):
            return ReserveResult(False, tuple(states), i)
    for counter, key, touch in zip(counters, keys, stale, strict=True):
        if touch:
            _touch(conn, counter, key)
    conn.executemany(
        "INSERT OR REPLACE INTO holds (key, rid, nanos, tokens, until) VALUES (?, ?, ?, ?, ?)",
        [(key, rid, amount[0], amount[1], until) for key in keys],
    )
    return ReserveResult(True, tuple(states))


def _mark_finished(conn: sqlite3.Connection, rid: str, now: float) -> bool:
    """Record that rid is finished; False if it already was (within the grace period)."""
    cur = conn.execute(
        "INSERT INTO finished (rid, forget_at) VALUES (?1, ?2)"
        " ON CONFLICT (rid) DO UPDATE SET forget_at = ?2 WHERE finished.forget_at <= ?3",
        (rid, now + FINISHED_GRACE_SECONDS, now),
    )
    return cur.rowcount == 1


def settle(
    conn: sqlite3.Connection,
    prefix: str,
    rid: str,
    counters: Sequence[Counter],
    amount: tuple[int, int],
    now: float,
) -> SettleResult:
    if not _mark_finished(conn, rid, now):
        return SettleResult(False)
    keys = [prefix + counter.key for counter in counters]
    conn.executemany("DELETE FROM holds WHERE key = ? AND rid = ?", [(key, rid) for key in keys])
    spent = []
    for counter, key in zip(counters, keys, strict=True):
        row = conn.execute(_ADD_SPEND, (key, amount[0], amount[1], counter.expire_at, now)).fetchone()
        spent.append((row[0], row[1]))
    return SettleResult(True, tuple(spent))


def release(conn: sqlite3.Connection, prefix: str, rid: str, counters: Sequence[Counter], now: float) -> bool:
    if not _mark_finished(conn, rid, now):
        return False
    conn.executemany("DELETE FROM holds WHERE key = ? AND rid = ?", [(prefix + c.key, rid) for c in counters])
    return True


def counter(conn: sqlite3.Connection, prefix: str, key: str, now: float) -> CounterState:
    return _state(conn, prefix + key, now)


def counters(conn: sqlite3.Connection, prefix: str, key_prefix: str, now: float) -> dict[str, CounterState]:
    full = prefix + key_prefix
    rows = conn.execute(
        "SELECT key FROM counters WHERE substr(key, 1, ?) = ? AND (expire_at IS NULL OR expire_at > ?)",
        (len(full), full, now),
    ).fetchall()
    return {row[0][len(prefix) :]: _state(conn, row[0], now) for row in rows}


def reset(conn: sqlite3.Connection, prefix: str, key: str) -> None:
    conn.execute("DELETE FROM counters WHERE key = ?", (prefix + key,))
    conn.execute("DELETE FROM holds WHERE key = ?", (prefix + key,))


# A key's running total and what of it has left the window (summed over the index on (key, stamp)).
_WINDOW = (
    "SELECT t.total, COALESCE(SUM(l.cost), 0), COUNT(l.id)"
    " FROM (SELECT 1) LEFT JOIN rate_totals AS t ON t.key = ?1"
    " LEFT JOIN rate_log AS l ON l.key = ?1 AND l.stamp <= ?2"
)
_FOLD_AT = 64  # entries that left the window are deleted (and taken off the total) once this many gathered
_LOG = "INSERT INTO rate_log (key, stamp, cost, expire_at) VALUES (?, ?, ?, ?)"
_ADD_TOTAL = (
    "INSERT INTO rate_totals (key, total) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET total = total + ?2"
)


def _window_total(conn: sqlite3.Connection, key: str, cutoff: float) -> int:
    """The sum of a key's costs stamped after `cutoff`, in amortised constant time: a running total less the
    entries that left the window, which are deleted (and subtracted from it) in batches of _FOLD_AT."""
    total, gone, count = conn.execute(_WINDOW, (key, cutoff)).fetchone()
    if total is None:  # no running total yet (or purged): start one from the entries in the window
        if count:
            conn.execute("DELETE FROM rate_log WHERE key = ? AND stamp <= ?", (key, cutoff))
        total = conn.execute("SELECT COALESCE(SUM(cost), 0) FROM rate_log WHERE key = ?", (key,)).fetchone()[
            0
        ]
        conn.execute("INSERT INTO rate_totals (key, total) VALUES (?, ?)", (key, total))
        return int(total)
    if count >= _FOLD_AT:
        conn.execute("DELETE FROM rate_log WHERE key = ? AND stamp <= ?", (key, cutoff))
        conn.execute("UPDATE rate_totals SET total = total - ? WHERE key = ?", (gone, key))
    return int(total - gone)


def _log(conn: sqlite3.Connection, key: str, stamp: float, cost: int, window: float) -> None:
    conn.execute(_LOG, (key, stamp, cost, stamp + window))
    conn.execute(_ADD_TOTAL, (key, cost))


def hit(conn: sqlite3.Connection, prefix: str, buckets: Sequence[Bucket], now: float) -> HitResult:
    totals = [_window_total(conn, prefix + b.key, now - b.window_seconds) for b in buckets]
    remaining = min((max(b.limit - t, 0) for b, t in zip(buckets, totals, strict=True)), default=0)
    for i, (b, total) in enumerate(zip(buckets, totals, strict=True)):
        if not window_admits(total, b.cost, b.limit):
            entries = conn.execute(
                "SELECT stamp, cost FROM rate_log WHERE key = ? AND stamp > ? ORDER BY stamp, id",
                (prefix + b.key, now - b.window_seconds),
            ).fetchall()
            wait = retry_after(entries, total, b.cost, b.limit, b.window_seconds, now)
            return HitResult(False, wait, remaining, now, i)
    conn.executemany(_LOG, [(prefix + b.key, now, b.cost, now + b.window_seconds) for b in buckets])
    conn.executemany(_ADD_TOTAL, [(prefix + b.key, b.cost) for b in buckets])
    remaining = min((max(b.limit - t - b.cost, 0) for b, t in zip(buckets, totals, strict=True)), default=0)
    return HitResult(True, 0.0, remaining, now)


def add_spend(conn: sqlite3.Connection, rows: Sequence[tuple[str, int, int, float | None, float]]) -> None:
    """Add (key, nanos, tokens, expire_at, now) to counters, restarting ended windows, as settle does."""
    conn.executemany(_ADD_SPEND_ROW, rows)


def mark_finished(conn: sqlite3.Connection, rows: Sequence[tuple[str, float]]) -> None:
    """Record (rid, forget_at) as finished reservations."""
    conn.executemany("INSERT OR REPLACE INTO finished (rid, forget_at) VALUES (?, ?)", rows)


def drop_holds(conn: sqlite3.Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """Delete the holds named by (key, rid)."""
    conn.executemany("DELETE FROM holds WHERE key = ? AND rid = ?", pairs)


def log_costs(
    conn: sqlite3.Connection, rows: Sequence[tuple[str, float, int, float]], totals: dict[str, int]
) -> None:
    """Append (key, stamp, cost, expire_at) rate-log entries; `totals` is their cost summed per key."""
    conn.executemany(_LOG, rows)
    conn.executemany(_ADD_TOTAL, list(totals.items()))


def correct(
    conn: sqlite3.Connection, prefix: str, key: str, window: float, stamp: float, delta: int, now: float
) -> None:
    if stamp > now - window:
        _window_total(conn, prefix + key, now - window)  # fold expired entries out before adding
        _log(conn, prefix + key, stamp, delta, window)


def put(
    conn: sqlite3.Connection, key: str, value: str, expire_at: float | None, nx: bool, now: float
) -> bool:
    if nx and get(conn, key, now) is not None:
        return False
    conn.execute(
        "INSERT OR REPLACE INTO kv (key, value, expire_at) VALUES (?, ?, ?)", (key, value, expire_at)
    )
    return True


def get(conn: sqlite3.Connection, key: str, now: float) -> str | None:
    row = conn.execute(
        "SELECT value FROM kv WHERE key = ? AND (expire_at IS NULL OR expire_at > ?)", (key, now)
    ).fetchone()
    return None if row is None else str(row[0])


def keys(conn: sqlite3.Connection, prefix: str, now: float) -> list[str]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        "SELECT key FROM kv WHERE key LIKE ? ESCAPE '\\' AND (expire_at IS NULL OR expire_at > ?) ORDER BY key",
        (escaped + "%", now),
    ).fetchall()
    return [str(row[0]) for row in rows]


def delete(conn: sqlite3.Connection, key: str, now: float) -> bool:
    present = get(conn, key, now) is not None
    conn.execute("DELETE FROM kv WHERE key = ?", (key,))
    return present


def data_version(conn: sqlite3.Connection) -> int:
    """Changes whenever another connection (the CLI, another process) commits to the file."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def snapshot(conn: sqlite3.Connection, prefix: str, now: float, finished_until: float) -> Snapshot:
    """The live counters, holds and rate-log entries under `prefix`, and the finished reservations that are
    forgotten after `now` but by `finished_until` (those a mirror wrote: see backend_sqlite_mirror)."""
    head = (len(prefix), prefix)
    return Snapshot(
        counters=conn.execute(
            "SELECT key, spent_nanos, spent_tokens, expire_at FROM counters"
            " WHERE substr(key, 1, ?) = ? AND (expire_at IS NULL OR expire_at > ?)",
            (*head, now),
        ).fetchall(),
        holds=conn.execute(
            "SELECT h.key, h.rid, h.nanos, h.tokens, h.until FROM holds AS h JOIN counters AS c ON c.key = h.key"
            " WHERE substr(h.key, 1, ?) = ? AND h.until > ? AND (c.expire_at IS NULL OR c.expire_at > ?)",
            (*head, now, now),
        ).fetchall(),
        finished=conn.execute(
            "SELECT rid, forget_at FROM finished WHERE forget_at > ? AND forget_at <= ?",
            (now, finished_until),
        ).fetchall(),
        rate_log=conn.execute(
            "SELECT key, stamp, cost, expire_at FROM rate_log WHERE substr(key, 1, ?) = ? AND expire_at > ?"
            " ORDER BY key, stamp, id",
            (*head, now),
        ).fetchall(),
    )


def purge(conn: sqlite3.Connection, now: float) -> None:
    """Drop everything whose window or grace ended (keeps the file small; reads already ignore it)."""
    conn.execute("DELETE FROM holds WHERE until <= ?", (now,))
    conn.execute(
        "DELETE FROM holds WHERE key IN (SELECT key FROM counters WHERE expire_at <= ?)",
        (now,),
    )
    conn.execute("DELETE FROM counters WHERE expire_at <= ?", (now,))
    conn.execute("DELETE FROM finished WHERE forget_at <= ?", (now,))
    expired = conn.execute("SELECT key, SUM(cost) FROM rate_log WHERE expire_at <= ? GROUP BY key", (now,))
    conn.executemany("UPDATE rate_totals SET total = total - ? WHERE key = ?", [(s, k) for k, s in expired])
    conn.execute("DELETE FROM rate_log WHERE expire_at <= ?", (now,))
    conn.execute("DELETE FROM rate_totals WHERE key NOT IN (SELECT key FROM rate_log)")
    conn.execute("DELETE FROM kv WHERE expire_at <= ?", (now,))
