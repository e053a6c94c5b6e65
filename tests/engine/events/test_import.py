"""Importing real JSONL audit logs (written by AuditWriter), the `events import` command and the config."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from palaryn_proxy.audit import AuditWriter, chain_files, verify
from palaryn_proxy.cli import events as cli_events
from palaryn_proxy.cli.commands import _load, proxy_options
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.events import EventsConfig, EventStore, import_files, open_event_store, parse_events_config

Records = list[dict[str, Any]]


def write_log(path: Path, records: Records, max_bytes: int = 100 * 1024 * 1024) -> list[Path]:
    writer = AuditWriter(path, max_bytes=max_bytes)
    for record in records:
        writer.write(record)
    writer.close()
    files = chain_files(path)
    assert verify(files).ok
    return files


def test_import_is_idempotent(
    tmp_path: Path, store: EventStore, make_records: Callable[..., Records]
) -> None:
    records = make_records(700)
    files = write_log(tmp_path / "audit.jsonl", records, max_bytes=200_000)  # rotated: several files
    assert len(files) > 1
    assert import_files(store, files, batch_size=128) == (700, 700)
    assert import_files(store, files) == (700, 0)
    total = sum(Decimal(r["cost_usd"]) for r in records if r["cost_usd"])
    assert Decimal(store.summary(0)["cost_usd"]) == total
    assert store.flow(records[9]["request_id"]) == records[9]


def cli() -> click.Group:
    group = click.Group()
    cli_events.register(group, _load, proxy_options)
    return group


def test_cli_import(tmp_path: Path, store_url: str, make_records: Callable[..., Records]) -> None:
    records = make_records(300)
    one = write_log(tmp_path / "a" / "audit.jsonl", records[:200])
    two = write_log(tmp_path / "b" / "audit.jsonl", records[150:])
    runner = CliRunner()
    args = ["events", "import", "--url", store_url, "--audit-log", str(tmp_path / "x.jsonl")]
    result = runner.invoke(cli(), [*args, *map(str, one)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "read 200 records, stored 200 new"
    result = runner.invoke(cli(), [*args, *map(str, one + two)])
    assert result.output.strip() == "read 350 records, stored 100 new"
    store = open_event_store(store_url)
    assert store.count() == 300
    store.close()


def test_cli_uses_the_config_and_explains_errors(
    tmp_path: Path, make_records: Callable[..., Records]
) -> None:
    log = write_log(tmp_path / "audit.jsonl", make_records(5))
    runner = CliRunner()
    db = tmp_path / "state" / "palaryn.db"
    config = tmp_path / "palaryn.yaml"
    config.write_text(f"storage:\n  url: sqlite://{db}\naudit_log: {tmp_path}/audit.jsonl\n")
    result = runner.invoke(cli(), ["events", "import", "--config", str(config), str(log[0])])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "events.db").is_file()  # events.db beside the budget store
    config.write_text(f"events:\n  url: sqlite://{tmp_path}/own/e.db\naudit_log: {tmp_path}/audit.jsonl\n")
    result = runner.invoke(cli(), ["events", "import", "--config", str(config), str(log[0])])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "own" / "e.db").is_file()
    result = runner.invoke(cli(), ["events", "import", "--url", "mysql://x", str(log[0])])
    assert result.exit_code != 0 and "events.url" in result.output


def test_parse_events_config() -> None:
    assert parse_events_config({}) == EventsConfig(
        url="sqlite://events.db", retention_days=30.0, enabled=True
    )
    parsed = parse_events_config(
        {"events": {"url": "postgresql://u@h:5432/d", "retention_days": 7, "enabled": False}}
    )
    assert parsed == EventsConfig(url="postgresql://u@h:5432/d", retention_days=7.0, enabled=False)
    assert parse_events_config({}, "sqlite:///d/e.db").url == "sqlite:///d/e.db"
    assert (
        parse_events_config({"events": {"url": "sqlite://x.db"}}, "sqlite:///d/e.db").url == "sqlite://x.db"
    )


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"urll": "x"}, r"`events.urll` is not a known key; known keys: url, retention_days, enabled"),
        ({"url": "mysql://x"}, r"`events.url` must be sqlite:///PATH or postgresql://"),
        ({"url": 5}, r"`events.url` must be"),
        ({"retention_days": 0}, r"`events.retention_days` must be a positive number of days"),
        ({"retention_days": True}, r"`events.retention_days`"),
        ({"retention_days": "30"}, r"`events.retention_days`"),
        ({"enabled": "yes"}, r"`events.enabled` must be true or false"),
        ("sqlite:///x", r"`events` must be a mapping"),
    ],
)
def test_config_errors_name_the_key(events: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_events_config({"events": events})
