"""The rate-limit stage: requests and LLM tokens per minute per scope; over the limit, 429 with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

from flowkit import Harness, chat_answer, chat_flow, error_of, flow, metric, state
from mitmproxy import http

from palaryn_proxy.types import Decision


def by(actor: str, path: str = "/echo") -> http.HTTPFlow:
    return flow("https://upstream.test" + path, headers=[("X-Palaryn-Actor", actor)])


async def test_third_request_in_a_minute_gets_429_with_retry_after(harness: Callable[..., Harness]) -> None:
    h = harness({"rate_limits": [{"name": "actor-rpm", "scope": "actor", "requests_per_minute": 2}]})
    flows = [by("agent", f"/echo?n={i}") for i in range(3)]
    for f in flows:
        await h.send(f)
    assert [f.response.status_code for f in flows if f.response is not None] == [200, 200, 429]
    refused = flows[2].response
    assert refused is not None and 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-palaryn-decision"] == "rate_limited"
    assert "actor-rpm" in error_of(flows[2])["message"] and len(h.upstream_saw) == 2
    assert state(flows[2]).decision is Decision.RATE_LIMITED
    assert h.record(flows[2])["status"] == 429
    assert metric(h.runtime.metrics.rate_limited, rule="actor-rpm") == 1


async def test_each_actor_has_its_own_window(harness: Callable[..., Harness]) -> None:
    h = harness({"rate_limits": [{"name": "actor-rpm", "scope": "actor", "requests_per_minute": 1}]})
    first, second, other = by("agent"), by("agent"), by("other")
    for f in (first, second, other):
        await h.send(f)
    assert [f.response.status_code for f in (first, second, other) if f.response is not None] == [
        200,
        429,
        200,
    ]


async def test_a_rule_matching_other_hosts_leaves_this_one_alone(harness: Callable[..., Harness]) -> None:
    h = harness({"rate_limits": [{"scope": "host", "match": "api.*", "requests_per_minute": 1}]})
    flows = [by("agent") for _ in range(3)]
    for f in flows:
        await h.send(f)
    assert {f.response.status_code for f in flows if f.response is not None} == {200}


async def test_llm_call_over_its_token_limit_gets_429(harness: Callable[..., Harness]) -> None:
    h = harness({"rate_limits": [{"name": "tpm", "scope": "actor", "tokens_per_minute": 500}]})
    small = chat_flow(max_tokens=50)
    await h.send(small, chat_answer(prompt_tokens=10, completion_tokens=20))
    assert small.response is not None and small.response.status_code == 200
    big = chat_flow(max_tokens=5000)  # its worst case alone is more than the minute allows
    await h.send(big, chat_answer())
    assert big.response is not None and big.response.status_code == 429
    assert error_of(big)["type"] == "rate_limit_exceeded" and "tpm" in error_of(big)["message"]


async def test_with_a_budget_too_the_rate_limit_answers_first(harness: Callable[..., Harness]) -> None:
    h = harness(
        {
            "budgets": [{"name": "daily", "scope": "actor", "period": "day", "limit_usd": 0.0001}],
            "rate_limits": [{"name": "llm-rpm", "scope": "actor", "requests_per_minute": 1}],
        }
    )
    first, second = chat_flow(), chat_flow()
    await h.send(first, chat_answer(prompt_tokens=100, completion_tokens=200))  # spends the whole budget
    await h.send(second, chat_answer())  # over both the rate limit and the budget
    assert second.response is not None and second.response.status_code == 429
    assert state(second).decision is Decision.RATE_LIMITED and len(h.upstream_saw) == 1
