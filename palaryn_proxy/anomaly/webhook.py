"""Anomaly webhook: a JSON POST per first alert, at most N a minute, sent from a background task.

Flows never wait for it: `notify` only queues (dropping what exceeds the rate or the queue), one task
sends the queue in order, each POST in a worker thread with a timeout, retried as `notify.deliver` says.
The URL is never logged (it may carry a token).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

from palaryn_proxy.notify import BACKOFF_SECONDS, deliver

QUEUE_LIMIT = 100

Outcome = Callable[[str], None]  # called with "sent", "failed" or "dropped"


class Webhook:
    """Rate-limited, queued delivery of alert payloads to one URL."""

    def __init__(
        self,
        url: str,
        per_minute: int,
        outcome: Outcome,
        clock: Callable[[], float] = time.monotonic,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self._url = url
        self._backoff = backoff
        self._per_minute = per_minute
        self._outcome = outcome
        self._clock = clock
        self._sent_at: collections.deque[float] = collections.deque()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._pending = 0  # queued or being sent
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def notify(self, payload: dict[str, Any]) -> None:
        """Queue one payload unless this minute's allowance or the queue is used up (never blocks)."""
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] >= 60.0:
            self._sent_at.popleft()
        if len(self._sent_at) >= self._per_minute or len(self._queue) >= QUEUE_LIMIT:
            self._outcome("dropped")
            return
        self._sent_at.append(now)
        self._queue.append(payload)
        self._pending += 1
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="palaryn-anomaly-webhook")

    async def stop(self, flush_seconds: float = 2.0) -> None:
        """Give queued payloads `flush_seconds` to go out, then stop the sender."""
        task, self._task = self._task, None
        if task is None:
            return
        deadline = time.monotonic() + flush_seconds
        while self._pending and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                try:
                    await self._send(self._queue.popleft())
                finally:
                    self._pending -= 1

    async def _send(self, payload: dict[str, Any]) -> None:
        ok = await deliver(self._url, payload, backoff=self._backoff, what="anomaly webhook")
        self._outcome("sent" if ok else "failed")
