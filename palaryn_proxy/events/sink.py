"""EventSink: the proxy hands over each finished flow's record; a writer thread stores them in batches.

`submit` only appends to a bounded in-memory queue (a full queue drops the record and counts it), so the
proxy never waits for the database. The writer takes up to `batch_max` records at a time, waiting at most
`flush_seconds` for a batch to fill, and prunes flows older than the retention at start and then hourly.
While the store fails (Postgres restarting) the writer retries its batch with backoff and new records queue
up to `queue_max`; records still unstored when the sink closes are counted in `failed`.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from palaryn_proxy.errors import StorageError
from palaryn_proxy.events.store import EventStore

log = logging.getLogger("palaryn")
PRUNE_EVERY_SECONDS = 3600.0
RETRY_SECONDS = 0.5  # a failed batch is retried after 0.5 s, 1 s, 2 s ... at most RETRY_MAX_SECONDS apart
RETRY_MAX_SECONDS = 30.0


class EventSink:
    """A bounded queue in front of an EventStore, drained by one daemon thread."""

    def __init__(
        self,
        store: EventStore,
        *,
        retention_days: float = 30,
        batch_max: int = 500,
        flush_seconds: float = 0.25,
        queue_max: int = 100_000,
        on_drop: Callable[[int], object] | None = None,
        on_written: Callable[[int], object] | None = None,
        on_error: Callable[[Exception], object] | None = None,
    ) -> None:
        self.store = store
        self.retention_seconds = retention_days * 86400
        self.batch_max = batch_max
        self.flush_seconds = flush_seconds
        self.queue_max = queue_max
        self._on_drop = on_drop
        self._on_written = on_written
        self._on_error = on_error
        self._items: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._submitted = 0  # records queued so far (not dropped)
        self._done = 0  # records the writer has finished with (stored, duplicate or failed)
        self._hurry = 0  # flush() callers waiting: do not wait for a batch to fill
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="palaryn-events", daemon=True)
        self.dropped = 0
        self.written = 0
        self.failed = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> None:
        """Queue a record for the store; never blocks: when the queue is full the record is dropped."""
        with self._cond:
            if self._closed or len(self._items) >= self.queue_max:
                self.dropped += 1
                dropped = True
            else:
                self._items.append(record)
                self._submitted += 1
                dropped = False
                # Wake the writer only when it waits for a first record or for a batch to fill.
                if len(self._items) == 1 or len(self._items) == self.batch_max:
                    self._cond.notify()
        if dropped and self._on_drop is not None:
            self._on_drop(1)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout`) until every record submitted so far is stored."""
        with self._cond:
            target = self._submitted
            self._hurry += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._done >= target or not self._thread.is_alive(), timeout)
            finally:
                self._hurry -= 1

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued (up to `timeout`), stop the writer and close the store."""
        with self._cond:
            if self._closed:
                return
            self._closed = self._stopping = True  # the writer drains the queue, then stops
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.store.close()

    def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            if time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
            batch, stop = self._take(next_prune)
            if batch:
                self._write(batch)
            if stop:
                return

    def _take(self, next_prune: float) -> tuple[list[dict[str, Any]], bool]:
        """The next batch (empty when it is time to prune), and whether the writer should stop after it."""
        with self._cond:
            while not self._items and not self._stopping:
                if not self._cond.wait(max(0.0, next_prune - time.monotonic())):
                    return [], False
            deadline = time.monotonic() + self.flush_seconds
            while len(self._items) < self.batch_max and not self._stopping and not self._hurry:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            count = min(self.batch_max, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            return batch, self._stopping and not self._items

    def _write(self, batch: list[dict[str, Any]]) -> None:
        """Store a batch; while the store fails (a database restarting) retry it with backoff, until close."""
        stored = 0
        for attempt in itertools.count():
            try:
                stored = self.store.insert(batch)
                break
            except StorageError as exc:
                self._report(exc)
                with self._cond:
                    if self._stopping or self._cond.wait_for(
                        lambda: self._stopping, min(RETRY_MAX_SECONDS, RETRY_SECONDS * 2**attempt)
                    ):
                        self.failed += len(batch)
                        break
            except Exception as exc:  # noqa: BLE001 - the writer thread's boundary: a bad batch, not a bad store
                self.failed += len(batch)
                self._report(exc)
                break
        with self._cond:
            self._done += len(batch)
            self.written += stored
            self._cond.notify_all()
        if stored and self._on_written is not None:
            self._on_written(stored)

    def _report(self, exc: Exception) -> None:
        log.warning("event store: cannot store flows: %s", exc)
        if self._on_error is not None:
            self._on_error(exc)

    def _prune(self) -> None:
        try:
            removed = self.store.prune(time.time() - self.retention_seconds)
        except StorageError as exc:
            self._report(exc)
            return
        if removed:
            log.info("event store: pruned %d flows older than the retention", removed)
