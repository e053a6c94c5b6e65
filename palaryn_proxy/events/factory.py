"""Open the event store named by `events.url`: sqlite://PATH or postgresql://..."""

from __future__ import annotations

import os

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.events.store import EventStore


def sqlite_path(url: str) -> str:
    """`sqlite:///var/lib/p/events.db` is absolute, `sqlite://events.db` relative (as storage.url)."""
    path = url[len("sqlite://") :].split("?", 1)[0]
    if not path:
        raise ConfigError(
            "events.url: 'sqlite://' needs a file path, e.g. sqlite:///var/lib/palaryn/events.db"
        )
    return os.path.expanduser(path)


def open_event_store(url: str) -> EventStore:
    """The store for `url`; ConfigError for a URL it cannot use, StorageError when the database fails."""
    if url.startswith("sqlite://"):
        from palaryn_proxy.events.sqlite_store import SqliteEventStore

        return SqliteEventStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from palaryn_proxy.events.postgres_store import PostgresEventStore

        return PostgresEventStore(url)
    scheme = url.partition("://")[0] if "://" in url else url
    raise ConfigError(
        f"events.url: unsupported scheme {scheme!r:.40}; use sqlite:///PATH (one proxy) or "
        "postgresql://USER@HOST:PORT/DB (replicas sharing one console)"
    )
