"""Audit record -> the event store's indexed columns, signal rows and roll-up deltas; money as pico-dollars."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

PICO = 10**12  # cost is stored as integer pico-dollars (1e-12 USD): SQL sums of integers are exact
HOUR_MS = 3_600_000
SPEND_DIMENSIONS = ("actor", "workspace", "task", "model", "provider")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHAIN_FIELDS = ("prev_hash", "hash")
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode  # built once


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One flow's columns, in the order of FLOW_COLUMNS."""

    request_id: str
    ts_ms: int
    actor: str
    workspace: str
    task: str
    host: str
    kind: str
    decision: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_pico: int
    n_dlp: int
    n_anomalies: int
    record: str
    signals: tuple[tuple[str, str, str, str, int], ...]  # (sig, name, direction, action, report_only)

    def columns(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.ts_ms,
            self.actor,
            self.workspace,
            self.task,
            self.host,
            self.kind,
            self.decision,
            self.provider,
            self.model,
            self.input_tokens,
            self.output_tokens,
            self.cost_pico,
            self.n_dlp,
            self.n_anomalies,
            self.record,
        )


FLOW_COLUMNS = (
    "request_id",
    "ts_ms",
    "actor",
    "workspace",
    "task",
    "host",
    "kind",
    "decision",
    "provider",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_pico",
    "n_dlp",
    "n_anomalies",
    "record",
)
SIGNAL_COLUMNS = ("ts_ms", "sig", "name", "direction", "action", "report_only")


def parse_ts_ms(value: Any) -> int:
    """Epoch milliseconds of an audit `ts` (ISO-8601, UTC); ValueError when it is none."""
    if not isinstance(value, str):
        raise ValueError(f"ts must be an ISO-8601 string, got {value!r:.40}")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def to_ms(seconds: float) -> int:
    """Epoch seconds at the API boundary -> the first whole millisecond at or after it."""
    return -int(-round(seconds * 1000, 3) // 1)


def iso(ms: int) -> str:
    """ISO-8601 UTC with a Z; milliseconds only when there are any."""
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else text + "Z"


def cost_to_pico(value: Any) -> int:
    """A `cost_usd` decimal string (or None) -> integer pico-dollars, rounded half-even past 12 places."""
    if value is None or value == "":
        return 0
    try:
        return int((Decimal(str(value)) * PICO).to_integral_value())
    except (InvalidOperation, ValueError):
        return 0


def pico_to_str(pico: int) -> str:
    """Integer pico-dollars -> a plain decimal string ("0", "1.25", "0.000001").

    String slicing rather than divmod and a format spec: spend() formats tens of thousands of these."""
    if pico < 0:
        return "-" + pico_to_str(-pico)
    digits = str(pico)
    if len(digits) <= 12:
        frac = ("000000000000" + digits)[-12:].rstrip("0")
        return "0." + frac if frac else "0"
    whole, frac = digits[:-12], digits[-12:].rstrip("0")
    return whole + "." + frac if frac else whole


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text.replace("\x00", "") if "\x00" in text else text  # Postgres text cannot hold NUL


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _signals(record: Mapping[str, Any], ts_ms: int) -> list[tuple[str, str, str, str, int]]:
    out: list[tuple[str, str, str, str, int]] = []
    for entry in _dicts(record.get("dlp")):
        out.append(
            ("dlp", _text(entry.get("type")), _text(entry.get("direction")), _text(entry.get("action")), 0)
        )
    for entry in _dicts(record.get("anomalies")):
        out.append(("anomaly", _text(entry.get("type")), "", "", 0))
    stages = set()
    for reason in _dicts(record.get("reasons")):
        stage = reason.get("stage")
        stages.add(stage)
        if stage == "policy":
            report = str(reason.get("message") or "").startswith("report only")
            out.append(("policy", _text(reason.get("rule")), "", "", int(report)))
    if "injection" in stages:
        out.append(("injection", "", "", "", 0))
    if "ssrf" in stages and record.get("decision") == "deny":
        out.append(("ssrf", "", "", "", 0))
    return out


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def to_row(record: Mapping[str, Any]) -> FlowRow | None:
    """The row of an audit record, or None when it has no request_id or no readable ts (cannot be stored)."""
    request_id = record.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        return None
    try:
        ts_ms = parse_ts_ms(record.get("ts"))
    except (ValueError, TypeError):
        return None
    body = (
        {k: v for k, v in record.items() if k not in _CHAIN_FIELDS}
        if _CHAIN_FIELDS[1] in record or _CHAIN_FIELDS[0] in record
        else record
    )
    usage = record.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    signals = _signals(record, ts_ms)
    return FlowRow(
        request_id=request_id,
        ts_ms=ts_ms,
        actor=_text(record.get("actor")),
        workspace=_text(record.get("workspace")),
        task=_text(record.get("task")),
        host=_text(record.get("host")),
        kind=_text(record.get("kind")),
        decision=_text(record.get("decision")),
        provider=_text(record.get("provider")),
        model=_text(record.get("model")),
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cost_pico=cost_to_pico(record.get("cost_usd")),
        n_dlp=len(_dicts(record.get("dlp"))),
        n_anomalies=len(_dicts(record.get("anomalies"))),
        record=_encode(body),
        signals=tuple(signals),
    )


def signal_rows(rows: Iterable[FlowRow]) -> list[tuple[int, str, str, str, str, int]]:
    return [(row.ts_ms, *sig) for row in rows for sig in row.signals]


# (hour, kind, decision) -> [requests, input, output, pico, dlp, anomalies]
Totals = dict[tuple[int, str, str], list[int]]
# (dimension, group, hour) -> [requests, input, output, pico]
Spend = dict[tuple[str, str, int], list[int]]
# (hour, sig, name, direction, action) -> [count, report_only]
Signals = dict[tuple[int, str, str, str, str], list[int]]


@dataclass(slots=True)
class Rollups:
    """Hourly roll-up deltas of a batch of newly stored rows."""

    totals: Totals
    spend: Spend
    signals: Signals


def rollups(rows: Iterable[FlowRow]) -> Rollups:
    """Totals by kind and decision, spend by each dimension, signal counts: per hour."""
    totals: Totals = {}
    spend: Spend = {}
    signals: Signals = {}
    for row in rows:
        hour = row.ts_ms // HOUR_MS
        for sig, name, direction, action, report_only in row.signals:
            c = signals.setdefault((hour, sig, name, direction, action), [0, 0])
            c[0] += 1
            c[1] += report_only
        t = totals.setdefault((hour, row.kind, row.decision), [0, 0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += row.input_tokens
        t[2] += row.output_tokens
        t[3] += row.cost_pico
        t[4] += row.n_dlp
        t[5] += row.n_anomalies
        for dim, group in zip(
            SPEND_DIMENSIONS, (row.actor, row.workspace, row.task, row.model, row.provider), strict=True
        ):
            s = spend.setdefault((dim, group, hour), [0, 0, 0, 0])
            s[0] += 1
            s[1] += row.input_tokens
            s[2] += row.output_tokens
            s[3] += row.cost_pico
    return Rollups(totals, spend, signals)


def dedupe(rows: Iterable[FlowRow | None]) -> list[FlowRow]:
    """Rows with a request_id seen once (the first wins), dropping unusable records."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row is not None and row.request_id not in seen:
            seen.add(row.request_id)
            out.append(row)
    return out
