"""What the admin API reads and changes in a running proxy: the event store, and (on the proxy's event loop,
where the shared storage client lives) budgets and approvals."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from palaryn_proxy.console.live import LiveHub
from palaryn_proxy.policy.approvals import ApprovalBook

LOOP_TIMEOUT = 10.0  # seconds a storage call may take before the API answers 503


class Unavailable(Exception):
    """A part the request needs is off or unreachable (answered 503 with this message)."""


class Backend:
    """Built by the server once the loop runs; every method is called from an admin request thread."""

    def __init__(self, runtime: Any, loop: asyncio.AbstractEventLoop, live: LiveHub):
        self.runtime, self.loop, self.live = runtime, loop, live

    @property
    def store(self) -> Any:
        sink = self.runtime.events
        if sink is None:
            raise Unavailable("the event store is off (events.enabled: false)")
        return sink.store

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run `coro` on the proxy's event loop (where the shared storage client lives) and wait for it."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(LOOP_TIMEOUT)
        except TimeoutError:
            raise Unavailable(f"the shared storage did not answer within {LOOP_TIMEOUT:g}s") from None

    def _book(self) -> ApprovalBook:
        if self.runtime.storage is None:
            raise Unavailable("approvals need shared storage: configure policy_packs (and storage.url)")
        return ApprovalBook(self.runtime.storage)

    def approvals(self, status: str | None) -> list[dict[str, Any]]:
        if self.runtime.storage is None:
            return []
        return [a.describe() for a in self.run(self._book().all(status))]

    def pending_approvals(self) -> int:
        return len(self.approvals("pending"))

    def decide(self, approval_id: str, approve: bool, by: str, reason: str | None) -> dict[str, Any]:
        """Raises KeyError (unknown or expired) or ValueError (already decided)."""
        decided = self.run(self._book().decide(approval_id, approve, by, reason))
        return dict(decided.describe())

    def budgets(self) -> list[dict[str, Any]]:
        engine = self.runtime.budgets
        if engine is None:
            return []
        return [row.to_dict() for row in self.run(engine.status())]

    def packs(self) -> list[dict[str, Any]]:
        policy = self.runtime.stages.get("policy")
        engine = policy.engine if policy is not None else self.runtime.config.sections.policy
        return [
            {
                "name": pack.name,
                "version": pack.version,
                "file": pack.source,
                "report": pack.report,
                "default": str(pack.default_effect),
                "rules": [
                    {"name": r.name, "effect": str(r.effect), "report": r.report, "priority": r.priority}
                    for r in pack.rules
                ],
            }
            for pack in engine.packs
        ]
