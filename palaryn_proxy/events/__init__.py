"""The console's event store: every flow's audit record, indexed and rolled up by hour for fast queries.

open_event_store(url) -> EventStore (SQLite file or Postgres), EventSink (batched writes off the hot path),
import_files (rebuild from the JSONL audit log), EventsConfig / parse_events_config (the `events` section).
"""

from palaryn_proxy.events.config import EventsConfig, parse_events_config
from palaryn_proxy.events.factory import open_event_store
from palaryn_proxy.events.importer import import_files
from palaryn_proxy.events.query import FlowQuery
from palaryn_proxy.events.sink import EventSink
from palaryn_proxy.events.store import EventStore

__all__ = [
    "EventSink",
    "EventStore",
    "EventsConfig",
    "FlowQuery",
    "import_files",
    "open_event_store",
    "parse_events_config",
]
