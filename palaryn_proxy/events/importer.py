"""Rebuild the event store from JSONL audit files, in batches; records already stored are skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from palaryn_proxy.audit import read_records
from palaryn_proxy.events.store import EventStore

IMPORT_BATCH = 2000


def import_files(
    store: EventStore,
    files: Iterable[str | Path],
    *,
    batch_size: int = IMPORT_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """(records read, records newly stored); idempotent by request_id. `progress(read, stored)` per batch."""
    read = stored = 0
    batch: list[dict[str, Any]] = []
    for record in read_records(files):
        if not isinstance(record, dict):
            continue
        read += 1
        batch.append(record)
        if len(batch) >= batch_size:
            stored += store.insert(batch)
            batch = []
            if progress is not None:
                progress(read, stored)
    if batch:
        stored += store.insert(batch)
    return read, stored
