"""Flow list queries: the FlowQuery filter, its SQL (newest first) and the opaque keyset cursor."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from palaryn_proxy.events.rows import to_ms

MAX_LIMIT = 500


@dataclass(frozen=True)
class FlowQuery:
    """Filters of a flow list page; `cursor` is the previous page's next_cursor."""

    actor: str | None = None
    decision: str | None = None
    host: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    cursor: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int)
            or not 1 <= self.limit <= MAX_LIMIT
        ):
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {self.limit!r}")


def encode_cursor(ts_ms: int, request_id: str) -> str:
    raw = f"{ts_ms}:{request_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """(ts_ms, request_id) of the last row of a page; ValueError("bad cursor ...") otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, sep, request_id = raw.partition(":")
        if not sep or not request_id:
            raise ValueError(cursor)
        return int(ts), request_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError(
            f"bad cursor {cursor[:40]!r}: pass next_cursor of the previous page unchanged"
        ) from None


def flows_sql(query: FlowQuery) -> tuple[str, list[Any]]:
    """One page plus one row (to know whether another page follows), keyset-paginated on (ts, request_id)."""
    where: list[str] = []
    params: list[Any] = []
    for column in ("actor", "decision", "host", "kind"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("ts_ms >= ?")
        params.append(to_ms(query.since))
    if query.until is not None:
        where.append("ts_ms < ?")
        params.append(to_ms(query.until))
    if query.cursor is not None:
        ts_ms, request_id = decode_cursor(query.cursor)
        # The redundant `ts_ms <= ?` gives both databases an index range to start from.
        where.append("ts_ms <= ? AND (ts_ms < ? OR request_id < ?)")
        params += [ts_ms, ts_ms, request_id]
    sql = "SELECT ts_ms, request_id, record FROM event_flows"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY ts_ms DESC, request_id DESC LIMIT ?"
    params.append(query.limit + 1)
    return sql, params
