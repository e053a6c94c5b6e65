"""`policy replay`: re-decide recorded flows (audit logs or the event store) with other packs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from palaryn_proxy.audit import chain_files, read_records
from palaryn_proxy.audit.replay import Replayer, ReplayReport
from palaryn_proxy.cli.report import parse_since
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.events.config import SCHEMES
from palaryn_proxy.policy import load_packs

PAGE = 500


def _from_files(sources: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for source in sources:
        path = Path(source)
        # A current log name brings its rotated files (oldest first) along; a rotated file is read alone.
        files = chain_files(path) if not path.suffix[1:].isdigit() else [path]
        if not files:
            raise click.ClickException(f"{source}: no such audit log")
        yield from read_records(files)


def _from_events(url: str, since: datetime | None) -> Iterator[dict[str, Any]]:
    from palaryn_proxy.events import open_event_store
    from palaryn_proxy.events.query import MAX_LIMIT, FlowQuery

    store = open_event_store(url)
    try:
        cursor = None
        while True:
            query = FlowQuery(
                since=since.timestamp() if since else None, limit=min(PAGE, MAX_LIMIT), cursor=cursor
            )
            page, cursor = store.flows(query)
            yield from page
            if cursor is None:
                return
    finally:
        store.close()


def _after(records: Iterator[dict[str, Any]], since: datetime | None) -> Iterator[dict[str, Any]]:
    for record in records:
        try:
            ts = datetime.fromisoformat(str(record.get("ts")).replace("Z", "+00:00"))
        except ValueError:
            ts = None
        if since is None or (ts is not None and ts >= since):
            yield record


def _print(report: ReplayReport) -> None:
    data = report.to_dict()
    click.echo(
        f"{data['flows']} flows re-decided: {data['unchanged']} unchanged, {data['changed']} changed, "
        f"{data['undecidable']} undecidable"
        + (f" ({data['skipped']} not judged by policy)" if data["skipped"] else "")
    )
    for change in data["changes"]:
        rule = f"{change['pack']}/{change['rule']}" if change["rule"] else "no policy"
        click.echo(
            f"  {change['from']} -> {change['to']}  {change['count']:>6}  rule {rule}  "
            f"e.g. {', '.join(change['examples'])}"
        )
    for entry in data["undecidable_rules"]:
        click.echo(
            f"  undecidable    {entry['count']:>6}  rule {entry['pack']}/{entry['rule']} needs the tool call's "
            f"arguments (not recorded)  e.g. {', '.join(entry['examples'])}"
        )


@click.command(name="replay")
@click.option("--policy", "packs", multiple=True, required=True, help="A pack file or shipped pack name.")
@click.argument("sources", nargs=-1, required=True)
@click.option("--since", default="all", show_default=True, help="Only flows this recent: 24h, 7d, 2w or all.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def policy_replay(packs: tuple[str, ...], sources: tuple[str, ...], since: str, as_json: bool) -> None:
    """Re-decide the flows of SOURCES (audit log files, or an event store URL) with the --policy packs and
    show what would change (allow -> deny, deny -> allow, approval), grouped by the rule deciding now."""
    try:
        start = parse_since(since)
        replayer = Replayer(load_packs(packs))
    except (PalarynError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    report = ReplayReport()
    for source in sources:
        records = _from_events(source, start) if source.startswith(SCHEMES) else _from_files((source,))
        try:
            replayer.replay(_after(records, start), report)
        except (PalarynError, OSError) as exc:
            raise click.ClickException(f"{source}: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)


def register(policy_group: click.Group) -> None:
    policy_group.add_command(policy_replay)
