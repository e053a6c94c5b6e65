"""`palaryn-proxy anomalies`: recent anomaly alerts from the audit log, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import click

from palaryn_proxy.audit import chain_files, read_records
from palaryn_proxy.cli.report import parse_since
from palaryn_proxy.config import Config

_COLUMNS = ("ts", "actor", "type", "severity", "action", "entity", "message")


def alerts(
    records: Iterable[dict[str, Any]], since: datetime | None, actor: str | None
) -> Iterator[dict[str, Any]]:
    """One row per first alert (repeats within the same bucket are folded), oldest first.

    A row is the alert's audit entry plus the flow's `ts` (ISO), `request_id`, `actor`, `workspace`, `host`
    and `decision`."""
    cutoff = since.isoformat(timespec="milliseconds").replace("+00:00", "Z") if since else None
    for record in records:
        found = record.get("anomalies")
        if not found or (actor is not None and record.get("actor") != actor):
            continue
        if cutoff is not None and str(record.get("ts", "")) < cutoff:
            continue
        for entry in found:
            if isinstance(entry, dict) and entry.get("first", True):
                yield {
                    **entry,
                    "alert_ts": entry.get("ts"),
                    "ts": record.get("ts"),
                    "request_id": record.get("request_id"),
                    "actor": record.get("actor"),
                    "workspace": record.get("workspace"),
                    "host": record.get("host"),
                    "decision": record.get("decision"),
                }


def render(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no anomalies"
    lines = [_COLUMNS] + [
        tuple(str(row.get(c) if row.get(c) is not None else "-") for c in _COLUMNS) for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)), line[-1]]) for line in lines
    )


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Add `anomalies` to the main CLI (it takes the usual proxy flags to find the audit log)."""

    @main.command(name="anomalies")
    @proxy_options
    @click.option("--since", default="1h", show_default=True, help="Time window: 30m, 1h, 7d, 2w or 'all'.")
    @click.option("--actor", help="Only this actor.")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list of alerts.")
    def anomalies_cmd(since: str, actor: str | None, as_json: bool, **kwargs: Any) -> None:
        """Recent anomaly alerts (first alerts only) from the audit log."""
        config = load(kwargs)
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        rows = list(alerts(read_records(chain_files(config.audit_log)), start, actor))
        click.echo(json.dumps(rows, indent=2) if as_json else render(rows))
