"""`palaryn-proxy events import FILE...`: (re)build the console's event store from JSONL audit files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from palaryn_proxy.config import Config
from palaryn_proxy.errors import PalarynError
from palaryn_proxy.events import import_files, open_event_store


def register(
    main: click.Group,
    load: Callable[[dict[str, Any]], Config],
    proxy_options: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    """Add `events` to the main CLI (the usual proxy flags find `events.url`)."""

    @main.group(name="events")
    def events_group() -> None:
        """The console's event store."""

    @events_group.command(name="import")
    @proxy_options
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
    @click.option("--url", help="Event store URL (default: the config's events.url).")
    def events_import(files: tuple[str, ...], url: str | None, **kwargs: Any) -> None:
        """Import audit FILES (JSONL) into the event store; records already stored are skipped."""
        config = load(kwargs)
        try:
            target = url or config.sections.events.url
            store = open_event_store(target)
        except PalarynError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            read, stored = import_files(store, files)
        except PalarynError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            store.close()
        click.echo(f"read {read} records, stored {stored} new")
