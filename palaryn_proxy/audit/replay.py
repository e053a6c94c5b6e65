"""Policy replay: re-decide recorded flows with other packs and group what would change by rule.

A record keeps the request line, who sent it and how it was classified, not its body: an MCP tool call's
arguments are gone. A flow whose new decision could depend on them (a rule with an `arguments` condition
that would otherwise match is reached) is reported as undecidable, never guessed: it is decided twice, with
every such condition holding and with none holding, and the two must agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from palaryn_proxy.policy import PolicyContext
from palaryn_proxy.policy.conditions import AnyCondition
from palaryn_proxy.policy.engine import PolicyEngine
from palaryn_proxy.policy.model import Effect, PolicyResult

EXAMPLES = 3
ALLOW, DENY, APPROVAL = "allow", "deny", "approval"
_OUTCOME = {
    Effect.ALLOW: ALLOW,
    Effect.TRANSFORM: ALLOW,
    Effect.DENY: DENY,
    Effect.REQUIRE_APPROVAL: APPROVAL,
}


@dataclass(frozen=True, slots=True)
class _Constant:
    """Stands in for an `arguments` condition: holds always, or never."""

    value: bool
    key: str = "arguments"

    def holds(self, view: Any) -> bool:
        return self.value

    def explain_miss(self, view: Any) -> str:
        return "arguments: not recorded"


def _stand_in(condition: AnyCondition, value: bool) -> AnyCondition:
    # Duck-typed: the engine only reads `key` and calls holds() and explain_miss().
    return cast(AnyCondition, _Constant(value)) if condition.key == "arguments" else condition


def _with_arguments(engine: PolicyEngine, value: bool) -> PolicyEngine:
    packs = []
    for pack in engine.packs:
        rules = tuple(
            dataclasses.replace(rule, conditions=tuple(_stand_in(c, value) for c in rule.conditions))
            for rule in pack.rules
        )
        packs.append(dataclasses.replace(pack, rules=rules))
    return PolicyEngine(packs)


@dataclass
class Change:
    before: str
    after: str
    pack: str | None
    rule: str | None
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.before,
            "to": self.after,
            "pack": self.pack,
            "rule": self.rule,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class ReplayReport:
    flows: int = 0
    unchanged: int = 0
    skipped: int = 0  # records that were no request the policy judges (refused before: 407, client errors)
    changes: dict[tuple[str, str, str | None, str | None], Change] = field(default_factory=dict)
    undecidable: dict[tuple[str | None, str | None], Change] = field(default_factory=dict)

    def add(self, into: dict[Any, Change], key: Any, change: Change, request_id: str) -> None:
        entry = into.setdefault(key, change)
        entry.count += 1
        if len(entry.examples) < EXAMPLES:
            entry.examples.append(request_id)

    def to_dict(self) -> dict[str, Any]:
        order = sorted(self.changes.values(), key=lambda c: (-c.count, c.before, c.after, str(c.rule)))
        return {
            "flows": self.flows,
            "unchanged": self.unchanged,
            "changed": sum(c.count for c in self.changes.values()),
            "undecidable": sum(c.count for c in self.undecidable.values()),
            "skipped": self.skipped,
            "changes": [c.to_dict() for c in order],
            "undecidable_rules": [
                {"pack": c.pack, "rule": c.rule, "count": c.count, "examples": c.examples}
                for c in sorted(self.undecidable.values(), key=lambda c: -c.count)
            ],
        }


def recorded_outcome(record: dict[str, Any]) -> str:
    """What the policy decided then: denied or held by a policy rule, else allowed (other stages aside)."""
    decision = record.get("decision")
    if decision == "approval_required":
        return APPROVAL
    if decision == "deny" and any(
        r.get("stage") == "policy" and not str(r.get("message", "")).startswith("report only")
        for r in record.get("reasons") or []
    ):
        return DENY
    return ALLOW


def context_of(record: dict[str, Any]) -> PolicyContext | None:
    if not record.get("method") or not record.get("url") or record.get("kind") == "passthrough":
        return None
    kind = record.get("kind") or "http"
    fields: dict[str, Any] = {
        "actor": record.get("actor") or "anonymous",
        "workspace": record.get("workspace") or "default",
        "task": record.get("task"),
        "kind": kind,
        "tool": record.get("tool") or ("llm" if kind == "llm" else "http.request"),
        "provider": record.get("provider"),
        "model": record.get("model"),
        "mcp_server": record.get("host") if kind == "mcp" else None,
    }
    if record.get("capability"):
        fields["capability"] = record["capability"]
    return PolicyContext.from_url(record["method"], record["url"], **fields)


class Replayer:
    """Decides records with `engine`; `replay` folds them into a report."""

    def __init__(self, engine: PolicyEngine):
        self.engine = engine
        self.has_arguments = any(
            c.key == "arguments" for p in engine.packs for r in p.rules for c in r.conditions
        )
        self._always = _with_arguments(engine, True) if self.has_arguments else engine
        self._never = _with_arguments(engine, False) if self.has_arguments else engine

    def decide(self, record: dict[str, Any]) -> tuple[PolicyResult | None, bool]:
        """The new result, and whether it is decidable from the record."""
        ctx = context_of(record)
        if ctx is None:
            return None, True
        if record.get("kind") == "mcp" and self.has_arguments:
            always, never = self._always.evaluate(ctx), self._never.evaluate(ctx)
            if (always.effect, always.pack, always.rule) != (never.effect, never.pack, never.rule):
                return always, False  # named by the rule that would decide if the arguments matched
            result = never
        else:
            result = self.engine.evaluate(ctx)
        if not result.blocks and record.get("model_tools"):
            tools = self.engine.evaluate_model_tools(
                dataclasses.replace(ctx, model_tools=tuple(record["model_tools"]))
            )
            if tools.effect is Effect.DENY:
                return tools, True
        return result, True

    def replay(self, records: Iterable[dict[str, Any]], report: ReplayReport | None = None) -> ReplayReport:
        report = report or ReplayReport()
        for record in records:
            result, decidable = self.decide(record)
            if result is None:
                report.skipped += 1
                continue
            report.flows += 1
            request_id = str(record.get("request_id", "?"))
            before = recorded_outcome(record)
            if not decidable:
                key = (result.pack, result.rule)
                report.add(report.undecidable, key, Change(before, "?", *key), request_id)
                continue
            after = _OUTCOME[result.effect]
            if after == before:
                report.unchanged += 1
                continue
            change = Change(before, after, result.pack, result.rule)
            report.add(report.changes, (before, after, result.pack, result.rule), change, request_id)
        return report
