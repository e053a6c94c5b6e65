"""Judge the tools of one tools/list answer against their pins, the poison scan and the actor's policy, and
rewrite the answer: hidden tools dropped, a blocked answer turned into a JSON-RPC error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.classify.mcp import POLICY_ERROR_CODE
from palaryn_proxy.toolguard.config import McpGuardConfig
from palaryn_proxy.toolguard.pins import Pin, compare
from palaryn_proxy.toolguard.poison import PoisonScanner
from palaryn_proxy.types import Reason

log = logging.getLogger("palaryn")
STAGE = "mcp"


@dataclass(slots=True)
class ListPlan:
    """One flow's tools/list requests: their ids, the server's pins read before the answer, what was found."""

    server: str
    ids: frozenset[Any]
    first: bool
    pins: dict[str, Pin]
    denied: Callable[[str], bool]  # policy would deny this tool to this actor
    reasons: list[Reason] = field(default_factory=list)
    writes: list[Pin] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    blocked: bool = False


class ListFilter:
    def __init__(self, config: McpGuardConfig) -> None:
        self.config = config
        self.poison = PoisonScanner(config.injection_threshold)

    def rewrite(self, plan: ListPlan, message: Any) -> Any:
        """The JSON-RPC message the client gets instead of `message` (itself when nothing changes)."""
        if not isinstance(message, dict) or message.get("id") not in plan.ids:
            return message
        result = message.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(tools, list):
            return message
        tools = [t for t in tools if isinstance(t, dict)]
        changes, writes = compare(plan.server, plan.first, plan.pins, tools)
        plan.writes += writes
        plan.first = False  # a second answer in the same flow compares against what the first pinned
        plan.pins.update({p.name: p for p in writes})
        status = {c.name: c.status for c in changes}
        kept = [t for t in tools if not self._hide(plan, t, status.get(t.get("name"), "same"))]
        if plan.blocked:
            error = {"code": POLICY_ERROR_CODE, "message": "; ".join(r.message for r in plan.reasons[-3:])}
            return {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
        if len(kept) == len(tools):
            return message
        return {**message, "result": {**result, "tools": kept}}

    def _hide(self, plan: ListPlan, tool: dict[str, Any], status: str) -> bool:
        name = str(tool.get("name"))
        hide = False
        if status in ("changed", "added"):
            what = "changed since it was pinned" if status == "changed" else "is new since the first answer"
            hide |= self._act(plan, self.config.on_change, f"mcp_tool_{status}", f"tool {name!r} {what}")
        poisoned = self.poison.scan(tool)
        if poisoned is not None:
            hide |= self._act(plan, self.config.poisoned, "mcp_tool_poisoned", f"tool {name!r}: {poisoned}")
        if self.config.hide_denied and plan.denied(name):
            plan.reasons.append(
                Reason(STAGE, "mcp_tool_denied_hidden", f"tool {name!r} denied to this actor")
            )
            hide = True
        if hide:
            plan.hidden.append(name)
        return hide

    def _act(self, plan: ListPlan, action: str, rule: str, message: str) -> bool:
        message = f"{message} (server {plan.server}, action {action})"
        log.warning("mcp: %s", message)
        if action != "log":
            plan.reasons.append(Reason(STAGE, rule, message))
        plan.blocked |= action == "block"
        return action == "hide"
