"""The `usage` report: refused calls are counted apart from unpriced ones."""

from __future__ import annotations

from decimal import Decimal

from palaryn_proxy.cli.report import aggregate, render_table

USAGE = {"input_tokens": 10, "output_tokens": 5, "estimated": False}


def record(decision: str, usage: dict | None, cost: str | None, actor: str = "a") -> dict:
    return {"kind": "llm", "ts": "2026-12-07T10:00:00.000Z", "actor": actor, "decision": decision,
            "usage": usage, "cost_usd": cost}  # fmt: skip


def test_refused_calls_are_not_unpriced() -> None:
    records = [
        record("allow", USAGE, "0.01"),
        record("budget_exceeded", None, None),
        record("deny", None, None),
        record("allow", USAGE, None),  # answered by the provider, but no price known
        record("deny", USAGE, "0.02"),  # a stream cut after the provider billed it: priced, not refused
    ]
    (row,) = aggregate(records, "actor", None)
    assert (row.requests, row.refused, row.unpriced) == (5, 2, 1)
    assert row.cost_usd == Decimal("0.03")
    table = render_table([row], "actor")
    assert "refused" in table.splitlines()[0]
    assert "(+1 unpriced)" in table
