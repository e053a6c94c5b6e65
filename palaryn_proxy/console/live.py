"""Finished flows fanned out to the console's live views (server-sent events), never blocking the proxy."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_SUBSCRIBERS = 32
QUEUE_SIZE = 1000  # a subscriber that falls this far behind loses flows (counted in its stream)


class LiveHub:
    """`publish` runs on the proxy's event loop: a lookup when nobody listens, a put per listener otherwise."""

    def __init__(self) -> None:
        self._subscribers: list[queue.Queue[dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self.dropped = 0
        self.closed = False

    def publish(self, record: dict[str, Any]) -> None:
        subscribers = self._subscribers  # replaced, never mutated: no lock on the hot path
        for q in subscribers:
            try:
                q.put_nowait(record)
            except queue.Full:
                self.dropped += 1

    @contextmanager
    def subscribe(self) -> Iterator[queue.Queue[dict[str, Any] | None] | None]:
        """A queue of finished flows, or None when MAX_SUBSCRIBERS already listen."""
        q: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        with self._lock:
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                q = None  # type: ignore[assignment]
            else:
                self._subscribers = [*self._subscribers, q]
        try:
            yield q
        finally:
            if q is not None:
                with self._lock:
                    self._subscribers = [s for s in self._subscribers if s is not q]

    def close(self) -> None:
        """Wake every stream so its thread ends (a full queue's stream sees `closed` at its next ping)."""
        self.closed = True
        for q in self._subscribers:
            try:
                q.put_nowait(None)
            except queue.Full:
                pass
