"""The event store's tables and indexes, written once for both SQLite and Postgres.

event_flows      one row per flow: indexed columns plus the full audit record as JSON text
event_signals    one row per DLP finding, anomaly and policy reason, and per injection flag / SSRF refusal
event_hourly     per hour, kind and decision: requests, tokens, cost, DLP findings, anomalies
event_hourly_spend  per spend dimension, group and hour: requests, tokens, cost
event_hourly_signals  per hour and signal (sig, name, direction, action): count, report-only count
"""

from __future__ import annotations

from typing import Any

from palaryn_proxy.events.rows import FLOW_COLUMNS, HOUR_MS, SPEND_DIMENSIONS

_TEXT = "{text}"  # TEXT, or TEXT COLLATE "C" on Postgres (byte order, as Python and SQLite compare)

TABLES = [
    f"""CREATE TABLE IF NOT EXISTS event_flows (
        id {{pk}},
        request_id {_TEXT} NOT NULL UNIQUE,
        ts_ms BIGINT NOT NULL,
        actor {_TEXT} NOT NULL,
        workspace {_TEXT} NOT NULL,
        task {_TEXT} NOT NULL,
        host {_TEXT} NOT NULL,
        kind {_TEXT} NOT NULL,
        decision {_TEXT} NOT NULL,
        provider {_TEXT} NOT NULL,
        model {_TEXT} NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_pico BIGINT NOT NULL,
        n_dlp INTEGER NOT NULL,
        n_anomalies INTEGER NOT NULL,
        record TEXT NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS event_signals (
        id {{pk}},
        ts_ms BIGINT NOT NULL,
        sig {_TEXT} NOT NULL,
        name {_TEXT} NOT NULL,
        direction {_TEXT} NOT NULL,
        action {_TEXT} NOT NULL,
        report_only INTEGER NOT NULL
    )""",
    f"""CREATE TABLE IF NOT EXISTS event_hourly (
        hour BIGINT NOT NULL,
        kind {_TEXT} NOT NULL,
        decision {_TEXT} NOT NULL,
        requests BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_pico BIGINT NOT NULL,
        dlp BIGINT NOT NULL,
        anomalies BIGINT NOT NULL,
        PRIMARY KEY (hour, kind, decision)
    ){{clustered}}""",
    f"""CREATE TABLE IF NOT EXISTS event_hourly_spend (
        dim {_TEXT} NOT NULL,
        hour BIGINT NOT NULL,
        grp {_TEXT} NOT NULL,
        requests BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_pico BIGINT NOT NULL,
        PRIMARY KEY (dim, hour, grp)
    ){{clustered}}""",
    f"""CREATE TABLE IF NOT EXISTS event_hourly_signals (
        hour BIGINT NOT NULL,
        sig {_TEXT} NOT NULL,
        name {_TEXT} NOT NULL,
        direction {_TEXT} NOT NULL,
        action {_TEXT} NOT NULL,
        count BIGINT NOT NULL,
        report_only BIGINT NOT NULL,
        PRIMARY KEY (hour, sig, name, direction, action)
    ){{clustered}}""",
]

# Newest-first pages, unfiltered or filtered by one column, walk one index backwards.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS event_flows_ts ON event_flows (ts_ms, request_id)",
    "CREATE INDEX IF NOT EXISTS event_flows_actor ON event_flows (actor, ts_ms, request_id)",
    "CREATE INDEX IF NOT EXISTS event_flows_decision ON event_flows (decision, ts_ms, request_id)",
    "CREATE INDEX IF NOT EXISTS event_flows_host ON event_flows (host, ts_ms, request_id)",
    "CREATE INDEX IF NOT EXISTS event_flows_kind ON event_flows (kind, ts_ms, request_id)",
    "CREATE INDEX IF NOT EXISTS event_signals_sig "
    "ON event_signals (sig, ts_ms, name, direction, action, report_only)",
]


def statements(*, pk: str, text: str, clustered: str) -> list[str]:
    """The DDL for one database (`pk`: its auto-increment key; `clustered`: a table option or "")."""
    return [t.format(pk=pk, text=text, clustered=clustered) for t in TABLES] + INDEXES


def insert_flows_sql(placeholder: str) -> str:
    marks = ", ".join([placeholder] * len(FLOW_COLUMNS))
    return f"INSERT INTO event_flows ({', '.join(FLOW_COLUMNS)}) VALUES ({marks})"


HOURLY_UPSERT = (
    "INSERT INTO event_hourly (hour, kind, decision, requests, input_tokens, output_tokens, cost_pico, dlp, "
    "anomalies) VALUES ({values}) ON CONFLICT (hour, kind, decision) DO UPDATE SET "
    "requests = event_hourly.requests + excluded.requests, "
    "input_tokens = event_hourly.input_tokens + excluded.input_tokens, "
    "output_tokens = event_hourly.output_tokens + excluded.output_tokens, "
    "cost_pico = event_hourly.cost_pico + excluded.cost_pico, "
    "dlp = event_hourly.dlp + excluded.dlp, anomalies = event_hourly.anomalies + excluded.anomalies"
)
SPEND_UPSERT = (
    "INSERT INTO event_hourly_spend (dim, hour, grp, requests, input_tokens, output_tokens, cost_pico) "
    "VALUES ({values}) ON CONFLICT (dim, hour, grp) DO UPDATE SET "
    "requests = event_hourly_spend.requests + excluded.requests, "
    "input_tokens = event_hourly_spend.input_tokens + excluded.input_tokens, "
    "output_tokens = event_hourly_spend.output_tokens + excluded.output_tokens, "
    "cost_pico = event_hourly_spend.cost_pico + excluded.cost_pico"
)
SIGNALS_UPSERT = (
    "INSERT INTO event_hourly_signals (hour, sig, name, direction, action, count, report_only) "
    "VALUES ({values}) ON CONFLICT (hour, sig, name, direction, action) DO UPDATE SET "
    "count = event_hourly_signals.count + excluded.count, "
    "report_only = event_hourly_signals.report_only + excluded.report_only"
)
SIGNALS = ("dlp", "anomaly", "policy", "injection", "ssrf")
SIGNALS_INSERT = (
    "INSERT INTO event_signals (ts_ms, sig, name, direction, action, report_only) VALUES ({values})"
)

# Prune: after deleting flows before a cut inside an hour, that hour's roll-ups are rebuilt from what is left.
REBUILD_HOURLY = (
    "INSERT INTO event_hourly (hour, kind, decision, requests, input_tokens, output_tokens, cost_pico, dlp, "
    "anomalies) SELECT ts_ms / 3600000, kind, decision, count(*), sum(input_tokens), sum(output_tokens), "
    "sum(cost_pico), sum(n_dlp), sum(n_anomalies) FROM event_flows WHERE ts_ms >= {p} AND ts_ms < {p} "
    "GROUP BY ts_ms / 3600000, kind, decision"
)
REBUILD_SIGNALS = (
    "INSERT INTO event_hourly_signals (hour, sig, name, direction, action, count, report_only) "
    "SELECT ts_ms / 3600000, sig, name, direction, action, count(*), sum(report_only) FROM event_signals "
    "WHERE sig IN ({sigs}) AND ts_ms >= {p} AND ts_ms < {p} "
    "GROUP BY ts_ms / 3600000, sig, name, direction, action"
)
REBUILD_SPEND = (
    "INSERT INTO event_hourly_spend (dim, hour, grp, requests, input_tokens, output_tokens, cost_pico) "
    "SELECT '{dim}', ts_ms / 3600000, {dim}, count(*), sum(input_tokens), sum(output_tokens), sum(cost_pico) "
    "FROM event_flows WHERE ts_ms >= {p} AND ts_ms < {p} GROUP BY ts_ms / 3600000, {dim}"
)


def prune_plan(before_ms: int) -> list[tuple[str, list[Any]]]:
    """The statements (with `?` marks) that follow deleting the flows before `before_ms`, in one transaction."""
    hour, partial = divmod(before_ms, HOUR_MS)
    cut = hour + 1 if partial else hour
    marks = ", ".join("?" * len(SIGNALS))
    plan: list[tuple[str, list[Any]]] = [
        (f"DELETE FROM event_signals WHERE sig IN ({marks}) AND ts_ms < ?", [*SIGNALS, before_ms]),
        ("DELETE FROM event_hourly WHERE hour < ?", [cut]),
        ("DELETE FROM event_hourly_signals WHERE hour < ?", [cut]),
        (
            "DELETE FROM event_hourly_spend WHERE dim IN ('actor', 'workspace', 'task', 'model', 'provider') "
            "AND hour < ?",
            [cut],
        ),
    ]
    if partial:
        window = [hour * HOUR_MS, cut * HOUR_MS]
        plan.append((REBUILD_HOURLY.format(p="?"), window))
        plan.append((REBUILD_SIGNALS.format(sigs=marks, p="?"), [*SIGNALS, *window]))
        plan += [(REBUILD_SPEND.format(dim=dim, p="?"), window) for dim in SPEND_DIMENSIONS]
    return plan
