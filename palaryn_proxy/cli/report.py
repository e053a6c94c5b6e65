"""Usage reports from the audit log: requests, tokens and cost grouped by actor, workspace, model, ..."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

GROUPS = ("actor", "workspace", "model", "provider", "task")
_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime | None:
    """'24h', '30m', '7d', '2w' -> the UTC start time; 'all' -> None."""
    if text.strip().lower() == "all":
        return None
    match = _SINCE.match(text.strip().lower())
    if not match:
        raise ValueError(f"--since {text!r}: use a number and a unit (s, m, h, d, w), e.g. 24h, or 'all'")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return (now or datetime.now(UTC)) - delta


@dataclass
class Row:
    key: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: int = 0
    refused: int = 0  # answered by the proxy itself (denied, over budget, ...): nothing reached the provider
    unpriced: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)

    def add(self, record: dict[str, Any]) -> None:
        self.requests += 1
        usage = record.get("usage") or {}
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        ):
            value = usage.get(name)
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)
        self.estimated += bool(usage.get("estimated"))
        if is_refused(record):
            self.refused += 1
        elif record.get("cost_usd") is None:
            self.unpriced += 1
        else:
            self.cost_usd += Decimal(str(record["cost_usd"]))

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["cost_usd"] = str(self.cost_usd)
        return out


def is_refused(record: dict[str, Any]) -> bool:
    """A call the proxy refused before the provider saw it: a refusing decision and no usage at all."""
    return record.get("decision") not in ("allow", "redact") and not record.get("usage")


def aggregate(records: Iterable[dict[str, Any]], by: str, since: datetime | None) -> list[Row]:
    """LLM records since `since`, grouped by `by`, most expensive first."""
    if by not in GROUPS:
        raise ValueError(f"--by must be one of {', '.join(GROUPS)}")
    rows: dict[str, Row] = {}
    cutoff = since.isoformat(timespec="milliseconds").replace("+00:00", "Z") if since else None
    for record in records:
        if record.get("kind") != "llm" or (cutoff and str(record.get("ts", "")) < cutoff):
            continue
        key = str(record.get(by) or "-")
        rows.setdefault(key, Row(key)).add(record)
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.requests, r.key))


def render_table(rows: list[Row], by: str) -> str:
    header = (
        by,
        "requests",
        "refused",
        "input",
        "output",
        "cache_read",
        "cache_write",
        "reasoning",
        "cost_usd",
    )
    lines = [header]
    total = Row("TOTAL")
    for row in rows:
        lines.append(
            (
                row.key,
                str(row.requests),
                str(row.refused),
                str(row.input_tokens),
                str(row.output_tokens),
                str(row.cache_read_tokens),
                str(row.cache_write_tokens),
                str(row.reasoning_tokens),
                _money(row.cost_usd, row.unpriced),
            )
        )
        for name in (
            "requests",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "refused",
            "unpriced",
            "estimated",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
        total.cost_usd += row.cost_usd
    lines.append(
        (
            "TOTAL",
            str(total.requests),
            str(total.refused),
            str(total.input_tokens),
            str(total.output_tokens),
            str(total.cache_read_tokens),
            str(total.cache_write_tokens),
            str(total.reasoning_tokens),
            _money(total.cost_usd, total.unpriced),
        )
    )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    if total.estimated:
        text.append(f"({total.estimated} of {total.requests} requests have estimated usage)")
    return "\n".join(text)


def _money(value: Decimal, unpriced: int) -> str:
    shown = f"{value.quantize(Decimal('0.000001'))}"
    return f"{shown} (+{unpriced} unpriced)" if unpriced else shown
