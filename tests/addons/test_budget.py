"""The budget stage: the worst case is reserved before an LLM call goes upstream (402 when it does not fit),
the actual cost settled when it ends, the reservation released when nothing was billed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flowkit import Harness, chat_answer, chat_flow, error_of, flow, metric, state
from mitmproxy import flow as mflow

from palaryn_proxy.types import Decision


def daily(limit: float, **extra: object) -> dict:
    return {"budgets": [{"name": "daily", "scope": "actor", "period": "day", "limit_usd": limit, **extra}]}


async def test_second_call_after_the_budget_is_spent_gets_402(harness: Callable[..., Harness]) -> None:
    h = harness(daily(0.0001))
    first = chat_flow(max_tokens=50)  # worst case about $0.00003: admitted
    await h.send(first, chat_answer(prompt_tokens=100, completion_tokens=200))  # costs $0.000135
    assert first.response is not None and first.response.status_code == 200
    assert state(first).cost_usd == Decimal("0.000135")
    second = chat_flow(max_tokens=50)
    await h.send(second, chat_answer())
    assert second.response is not None and second.response.status_code == 402
    assert second.response.headers["x-palaryn-decision"] == "budget_exceeded"
    error = error_of(second)
    assert error["type"] == "budget_exceeded" and "daily" in error["message"]
    assert len(h.upstream_saw) == 1 and state(second).decision is Decision.BUDGET_EXCEEDED
    assert h.record(second)["reasons"][-1]["rule"] == "daily"
    assert metric(h.runtime.metrics.budget_refusals, budget="daily") == 1
    other = chat_flow(actor="other-agent", max_tokens=50)  # each actor has its own counter
    await h.send(other, chat_answer())
    assert other.response is not None and other.response.status_code == 200


async def test_a_held_reservation_counts_until_the_call_ends_unbilled(
    harness: Callable[..., Harness],
) -> None:
    h = harness(daily(0.0005))
    first = chat_flow(max_tokens=500)  # worst case about $0.0003: one fits, two do not
    await h.request_phase(first)
    assert first.response is None
    second = chat_flow(max_tokens=500)
    await h.send(second)
    assert second.response is not None and second.response.status_code == 402  # the first one's hold counts
    first.error = mflow.Error("Connection refused")  # the upstream failed: nothing was generated
    await h.hook("error", first)
    third = chat_flow(max_tokens=500)
    await h.send(third, chat_answer(prompt_tokens=10, completion_tokens=10))
    assert third.response is not None and third.response.status_code == 200  # the hold was released


async def test_per_request_max_refuses_one_expensive_call(harness: Callable[..., Harness]) -> None:
    h = harness({"per_request_max_usd": 0.001})
    big = chat_flow(model="gpt-4o", max_tokens=4000)  # worst case $0.04
    small = chat_flow(max_tokens=50)
    await h.send(big, chat_answer())
    await h.send(small, chat_answer())
    assert big.response is not None and big.response.status_code == 402
    assert small.response is not None and small.response.status_code == 200


async def test_warn_at_header_once_the_budget_is_past_it(harness: Callable[..., Harness]) -> None:
    h = harness(daily(0.01, warn_at=0.01))
    first, second = chat_flow(), chat_flow()
    await h.send(first, chat_answer(prompt_tokens=100, completion_tokens=400))
    await h.send(second, chat_answer())
    assert first.response is not None and "daily" in first.response.headers["x-palaryn-budget-warning"]
    assert any(r.rule == "warn_at:daily" for r in state(first).reasons)
    assert second.response is not None and "daily" in second.response.headers["x-palaryn-budget-warning"]


async def test_plain_http_is_not_budgeted(harness: Callable[..., Harness]) -> None:
    h = harness(daily(0.0000001))
    f = flow("https://upstream.test/echo", "POST", json_body={"model": "gpt-4o"})
    await h.send(f)
    assert f.response is not None and f.response.status_code == 200
