"""Readiness for /readyz: checked on the proxy's event loop, cached, read from the metrics thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from palaryn_proxy.errors import StorageError

log = logging.getLogger("palaryn")


class Readiness:
    """Ready = every condition true (the server adds listeners up and CA loaded), storage answering a ping
    (when configured), not draining, and every stage exposing `readiness() -> (ok, detail)` (policy) ok."""

    def __init__(self, runtime: Any, interval: float = 2.0, ping_timeout: float = 2.0):
        self.runtime = runtime
        self.interval, self.ping_timeout = interval, ping_timeout
        self.draining = False
        self.conditions: dict[str, Callable[[], bool]] = {}  # problem shown when false -> predicate
        self._status: tuple[bool, str] = (False, "starting")
        self._checked = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> tuple[bool, str]:
        problems = []
        if self.draining:
            problems.append("draining (shutting down)")
        problems += [problem for problem, holds in self.conditions.items() if not holds()]
        storage = self.runtime.storage
        if storage is not None:
            try:
                await asyncio.wait_for(storage.ping(), self.ping_timeout)
            except (StorageError, TimeoutError, OSError) as exc:
                problems.append(f"storage unreachable: {type(exc).__name__}: {exc}"[:200])
        for name, stage in list(self.runtime.stages.items()):
            check = getattr(stage, "readiness", None)
            if callable(check):
                ok, detail = check()
                if not ok:
                    problems.append(f"{name}: {detail}")
        self._status = (not problems, "; ".join(problems) or "ok")
        self._checked = time.monotonic()
        return self._status

    def __call__(self) -> tuple[bool, str]:
        """From any thread: the latest status, or not ready when the loop stopped refreshing it."""
        ok, detail = self._status
        stale = time.monotonic() - self._checked
        if stale > max(10.0, 5 * self.interval):
            return False, f"readiness not refreshed for {stale:.0f}s (event loop stalled?)"
        return ok, detail

    async def _loop(self) -> None:
        while True:
            ok, _ = await self.refresh()
            await asyncio.sleep(self.interval if ok else min(self.interval, 0.25))

    async def running(self) -> None:
        """mitmproxy hook (this object is also added as an addon): listeners are up, refresh right away."""
        await self.refresh()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="palaryn-readiness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def drain(self) -> None:
        """Shutdown began: report not ready at once (no storage ping in the way of closing the listeners)."""
        self.draining = True
        self._status, self._checked = (False, "draining (shutting down)"), time.monotonic()
