"""The event store's queries, shared by both databases: hourly roll-ups for whole hours, raw rows at the edges.

A range [since, until) splits into a head before its first whole hour, the whole hours, and a tail after the
last one. Roll-ups answer the whole hours; the flows table answers the head and tail (an hour at most each),
so every total is exact while the work stays proportional to hours, not flows.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from palaryn_proxy.events.query import FlowQuery, encode_cursor, flows_sql
from palaryn_proxy.events.rows import (
    HOUR_MS,
    SPEND_DIMENSIONS,
    FlowRow,
    dedupe,
    iso,
    pico_to_str,
    to_ms,
    to_row,
)

NON_BLOCKING = ("allow", "redact")
_SECURITY = ("dlp", "anomaly", "injection", "ssrf")
# CAST: Postgres sums bigints as numeric (slow Decimals in Python); both databases accept this spelling.
_SUMS = ", ".join(f"CAST(sum({c}) AS BIGINT)" for c in ("input_tokens", "output_tokens", "cost_pico"))
_SUM_REQUESTS = "CAST(sum(requests) AS BIGINT)"
MAX_DENSE_BUCKETS = 5000
Range = tuple[int, int | None]  # [start, end) in ms, or hours for roll-ups; None = no end


def split(since_ms: int, until_ms: int | None) -> tuple[list[Range], Range | None]:
    """(raw ms ranges, whole-hour range) covering [since_ms, until_ms) exactly once."""
    first = -(-since_ms // HOUR_MS)
    raw: list[Range]
    if until_ms is None:
        raw = [(since_ms, first * HOUR_MS)] if since_ms < first * HOUR_MS else []
        return raw, (first, None)
    last = until_ms // HOUR_MS
    if first >= last:
        raw = [(since_ms, until_ms)] if since_ms < until_ms else []
        return raw, None
    raw = [(a, b) for a, b in ((since_ms, first * HOUR_MS), (last * HOUR_MS, until_ms)) if a < b]
    return raw, (first, last)


def _between(column: str, start: int, end: int | None) -> tuple[str, list[int]]:
    if end is None:
        return f"{column} >= ?", [start]
    return f"{column} >= ? AND {column} < ?", [start, end]


def _add(into: dict[Any, list[int]], key: Any, values: Sequence[Any]) -> None:
    row = into.get(key)
    if row is None:
        into[key] = [int(v or 0) for v in values]
    else:
        for i, v in enumerate(values):
            row[i] += int(v or 0)


class EventStore(ABC):
    """An index of audit records; the subclasses own the connections and the writes."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query written with `?` placeholders; every row."""

    @abstractmethod
    def _store(self, rows: list[FlowRow]) -> int:
        """Store rows whose request_id is not stored yet, with their signals and roll-ups; how many."""

    @abstractmethod
    def prune(self, before: float) -> int:
        """Delete flows older than `before` (epoch seconds); how many."""

    @abstractmethod
    def close(self) -> None: ...

    def insert(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Store audit records; duplicates by request_id (and records without one or a ts) are skipped."""
        rows = dedupe(to_row(r) for r in records)
        return self._store(rows) if rows else 0

    def count(self) -> int:
        return int(self._fetch("SELECT count(*) FROM event_flows")[0][0])

    def flow(self, request_id: str) -> dict[str, Any] | None:
        found = self._fetch("SELECT record FROM event_flows WHERE request_id = ?", [request_id])
        return json.loads(found[0][0]) if found else None

    def flows(self, query: FlowQuery) -> tuple[list[dict[str, Any]], str | None]:
        sql, params = flows_sql(query)
        found = self._fetch(sql, params)
        page = found[: query.limit]
        more = len(found) > query.limit
        cursor = encode_cursor(int(page[-1][0]), page[-1][1]) if more and page else None
        return [json.loads(row[2]) for row in page], cursor

    def summary(self, since: float, until: float | None = None) -> dict[str, Any]:
        raw, hours = split(to_ms(since), None if until is None else to_ms(until))
        groups: dict[tuple[str, str], list[int]] = {}
        for start, end in raw:
            cond, params = _between("ts_ms", start, end)
            sql = (
                f"SELECT kind, decision, count(*), {_SUMS}, sum(n_dlp), sum(n_anomalies) "
                f"FROM event_flows WHERE {cond} GROUP BY kind, decision"
            )
            for kind, decision, *values in self._fetch(sql, params):
                _add(groups, (kind, decision), values)
        if hours is not None:
            cond, params = _between("hour", *hours)
            sql = (
                f"SELECT kind, decision, sum(requests), {_SUMS}, sum(dlp), sum(anomalies) "
                f"FROM event_hourly WHERE {cond} GROUP BY kind, decision"
            )
            for kind, decision, *values in self._fetch(sql, params):
                _add(groups, (kind, decision), values)
        totals = [0] * 6
        llm = 0
        blocked: dict[str, int] = {}
        for (kind, decision), values in groups.items():
            totals = [a + b for a, b in zip(totals, values, strict=True)]
            llm += values[0] if kind == "llm" else 0
            if decision not in NON_BLOCKING and values[0]:
                blocked[decision] = blocked.get(decision, 0) + values[0]
        return {
            "requests": totals[0],
            "llm_requests": llm,
            "input_tokens": totals[1],
            "output_tokens": totals[2],
            "cost_usd": pico_to_str(totals[3]),
            "blocked": dict(sorted(blocked.items())),
            "dlp_findings": totals[4],
            "anomalies": totals[5],
        }

    def spend(
        self, by: str, since: float, until: float | None = None, bucket_seconds: int | None = None
    ) -> list[dict[str, Any]]:
        if by not in SPEND_DIMENSIONS:
            raise ValueError(f"by must be one of {', '.join(SPEND_DIMENSIONS)}, got {by!r}")
        if bucket_seconds is not None and (not isinstance(bucket_seconds, int) or bucket_seconds < 1):
            raise ValueError(
                f"bucket_seconds must be a positive whole number of seconds, got {bucket_seconds!r}"
            )
        since_ms = to_ms(since)
        until_ms = None if until is None else to_ms(until)
        bucket_ms = None if bucket_seconds is None else bucket_seconds * 1000
        if bucket_ms is None or bucket_ms % HOUR_MS == 0:
            raw, hours = split(since_ms, until_ms)
        else:
            raw, hours = [(since_ms, until_ms)], None
        groups: dict[tuple[int, str], list[int]] = {}
        for start, end in raw:
            cond, params = _between("ts_ms", start, end)
            b = "0" if bucket_ms is None else f"ts_ms / {bucket_ms}"
            sql = f"SELECT {b} AS b, {by}, count(*), {_SUMS} FROM event_flows WHERE {cond} GROUP BY b, {by}"
            for bucket, group, *values in self._fetch(sql, params):
                _add(groups, (int(bucket), group), values)
        if hours is None:
            return _spend_rows(_ordered(groups), bucket_ms, since_ms)
        cond, params = _between("hour", *hours)
        per = None if bucket_ms is None else bucket_ms // HOUR_MS
        if per == 1:
            # One roll-up row per (hour, group), already in answer order; the raw edges are the partial first
            # and last hours, buckets of their own: nothing to merge, the rows only need formatting.
            rolled = self._fetch(
                "SELECT hour, grp, requests, input_tokens, output_tokens, cost_pico FROM event_hourly_spend "
                f"WHERE dim = ? AND {cond} ORDER BY hour, cost_pico DESC, grp",
                [by, *params],
            )
            edges = _ordered(groups)
            head = [row for row in edges if row[0] < hours[0]]
            return _spend_rows(head + rolled + edges[len(head) :], bucket_ms, since_ms)
        b = "0" if per is None else f"hour / {per}"
        sql = (
            f"SELECT {b} AS b, grp, {_SUM_REQUESTS}, {_SUMS} FROM event_hourly_spend "
            f"WHERE dim = ? AND {cond} GROUP BY b, grp"
        )
        for bucket, group, *values in self._fetch(sql, [by, *params]):
            _add(groups, (int(bucket), group), values)
        return _spend_rows(_ordered(groups), bucket_ms, since_ms)

    def security(
        self, since: float, until: float | None = None, bucket_seconds: int = 3600
    ) -> dict[str, Any]:
        if not isinstance(bucket_seconds, int) or bucket_seconds < 1:
            raise ValueError(
                f"bucket_seconds must be a positive whole number of seconds, got {bucket_seconds!r}"
            )
        since_ms = to_ms(since)
        until_ms = None if until is None else to_ms(until)
        found = self._signals(_SECURITY, since_ms, until_ms, None, "sig, name, direction, action")
        dlp = [
            {"type": k[2], "direction": k[3], "action": k[4], "count": v[0]}
            for k, v in found.items()
            if k[1] == "dlp"
        ]
        anomalies: dict[str, int] = {}
        for key, (count, _) in found.items():
            if key[1] == "anomaly":
                anomalies[key[2]] = anomalies.get(key[2], 0) + count
        bucket_ms = bucket_seconds * 1000
        over = self._signals(_SECURITY, since_ms, until_ms, bucket_ms, "sig")
        return {
            "dlp": sorted(dlp, key=lambda r: (-r["count"], r["type"], r["direction"], r["action"])),
            "injection_flags": sum(v[0] for k, v in found.items() if k[1] == "injection"),
            "ssrf_refusals": sum(v[0] for k, v in found.items() if k[1] == "ssrf"),
            "anomalies": [
                {"type": t, "count": c} for t, c in sorted(anomalies.items(), key=lambda i: (-i[1], i[0]))
            ],
            "over_time": _over_time(over, bucket_ms, since_ms, until_ms),
        }

    def rule_hits(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        found = self._signals(
            ("policy",), to_ms(since), None if until is None else to_ms(until), None, "sig, name"
        )
        rows = [{"rule": k[2], "hits": v[0], "report_only": v[1]} for k, v in found.items()]
        return sorted(rows, key=lambda r: (-r["hits"], r["rule"]))

    def _signals(
        self, sigs: Sequence[str], since_ms: int, until_ms: int | None, bucket_ms: int | None, columns: str
    ) -> dict[tuple[Any, ...], list[int]]:
        """(bucket, *columns) -> [count, report_only] of the signals `sigs` in [since, until)."""
        if bucket_ms is None or bucket_ms % HOUR_MS == 0:
            raw, hours = split(since_ms, until_ms)
        else:
            raw, hours = [(since_ms, until_ms)], None
        marks = ", ".join("?" * len(sigs))
        out: dict[tuple[Any, ...], list[int]] = {}
        counts = "count(*), CAST(sum(report_only) AS BIGINT)"
        for start, end in raw:
            cond, params = _between("ts_ms", start, end)
            b = "0" if bucket_ms is None else f"ts_ms / {bucket_ms}"
            sql = (
                f"SELECT {b} AS b, {columns}, {counts} FROM event_signals "
                f"WHERE sig IN ({marks}) AND {cond} GROUP BY b, {columns}"
            )
            for bucket, *rest in self._fetch(sql, [*sigs, *params]):
                _add(out, (int(bucket), *rest[:-2]), rest[-2:])
        if hours is not None:
            cond, params = _between("hour", *hours)
            b = "0" if bucket_ms is None else f"hour / {bucket_ms // HOUR_MS}"
            sql = (
                f"SELECT {b} AS b, {columns}, CAST(sum(count) AS BIGINT), CAST(sum(report_only) AS BIGINT) "
                f"FROM event_hourly_signals WHERE sig IN ({marks}) AND {cond} GROUP BY b, {columns}"
            )
            for bucket, *rest in self._fetch(sql, [*sigs, *params]):
                _add(out, (int(bucket), *rest[:-2]), rest[-2:])
        return out


def _ordered(groups: dict[tuple[int, str], list[int]]) -> list[tuple[Any, ...]]:
    """(bucket, group, requests, input, output, pico) rows by bucket, then cost desc, then group."""
    keys = sorted(groups, key=lambda key: (key[0], -groups[key][3], key[1]))
    return [(*key, *groups[key]) for key in keys]


def _spend_rows(rows: Sequence[Sequence[Any]], bucket_ms: int | None, since_ms: int) -> list[dict[str, Any]]:
    starts: dict[int, str] = {}
    out: list[dict[str, Any]] = []
    append = out.append
    for bucket, group, requests, tokens_in, tokens_out, pico in rows:
        start = starts.get(bucket)
        if start is None:
            start = starts[bucket] = iso(since_ms if bucket_ms is None else int(bucket) * bucket_ms)
        append(
            {
                "group": group,
                "bucket_start": start,
                "requests": requests,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cost_usd": pico_to_str(pico),
            }
        )
    return out


_OVER_TIME = {
    "dlp": "dlp_findings",
    "injection": "injection_flags",
    "ssrf": "ssrf_refusals",
    "anomaly": "anomalies",
}


def _over_time(
    found: dict[tuple[Any, ...], list[int]], bucket_ms: int, since_ms: int, until_ms: int | None
) -> list[dict[str, Any]]:
    """Every bucket from the one holding `since` to the one holding `until` (or now), zeros included."""
    counts: dict[int, dict[str, int]] = {}
    for (bucket, sig), (count, _) in found.items():
        counts.setdefault(bucket, dict.fromkeys(_OVER_TIME.values(), 0))[_OVER_TIME[sig]] += count
    end_ms = until_ms if until_ms is not None else max(int(time.time() * 1000), since_ms)
    first, last = since_ms // bucket_ms, max(since_ms, end_ms - 1) // bucket_ms
    if counts:
        last = max(last, max(counts))
    buckets = range(first, last + 1) if last - first < MAX_DENSE_BUCKETS else sorted(counts)
    return [
        {"bucket_start": iso(b * bucket_ms), **counts.get(b, dict.fromkeys(_OVER_TIME.values(), 0))}
        for b in buckets
    ]
