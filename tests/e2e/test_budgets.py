"""Budgets and rate limits through real proxies: 402 and 429 answers, reservations under concurrency across two
replicas sharing a real redis-server, mid-stream cuts, storage faults, and the budget CLI."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from decimal import Decimal

import httpx
import openai
import pytest

from e2e.harness import BIN, Proxy, base_env

SSE = "text/event-stream"
MODEL = "gpt-4o-mini-2024-07-18"


def chunk(content: str | None, usage: dict | None = None) -> str:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": choices}
    if usage is not None:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n"


def stream_body(words: int, prompt_tokens: int, completion_tokens: int) -> bytes:
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    text = "".join(chunk("tok ") for _ in range(words))
    return (text + chunk(None, usage) + "data: [DONE]\n\n").encode()


def request(max_tokens: int, stream: bool = True) -> dict:
    return {
        "model": "gpt-4o-mini",
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "go"}],
    }


def client(proxy: Proxy, actor: str = "agent") -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(
        proxy=proxy.url, verify=trust, timeout=30, trust_env=False, headers={"X-Palaryn-Actor": actor}
    )


def budget_status(proxy: Proxy, *args: str) -> list[dict]:
    out = subprocess.run(
        [str(BIN), "budget", "status", "--config", str(proxy.config_path), "--json", *args],
        capture_output=True,
        text=True,
        env=base_env(),
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_budget_refuses_with_402_and_sdk_reads_it(proxy_factory, upstream):
    proxy = proxy_factory(
        {"budgets": [{"name": "per-actor-daily", "scope": "actor", "period": "day", "limit_usd": 0.001}]}
    )
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(3, 5, 700), SSE)
    with client(proxy) as c:
        first = c.post("https://api.openai.com/v1/chat/completions", json=request(800))
        assert first.status_code == 200  # worst case fits; the actual cost then uses up the budget
    sdk = openai.OpenAI(
        api_key="sk-test",
        max_retries=0,
        default_headers={"X-Palaryn-Actor": "agent"},
        http_client=httpx.Client(
            proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_file))
        ),
    )
    with pytest.raises(openai.APIStatusError) as err:
        sdk.chat.completions.create(
            model="gpt-4o-mini", max_tokens=1000, messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.status_code == 402
    assert "per-actor-daily" in str(err.value) and "spent" in str(err.value) and "left" in str(err.value)
    assert err.value.response.headers["x-palaryn-decision"] == "budget_exceeded"
    with client(proxy, actor="other-agent") as c:  # each actor has its own counter
        assert c.post("https://api.openai.com/v1/chat/completions", json=request(100)).status_code == 200
    records = proxy.wait_records(3)
    assert [r["decision"] for r in records] == ["allow", "budget_exceeded", "allow"]
    assert records[1]["status"] == 402 and records[1]["reasons"][-1]["rule"] == "per-actor-daily"
    rows = {r["scope_value"]: r for r in budget_status(proxy)}
    assert Decimal(str(rows["agent"]["spent_usd"])) == Decimal(records[0]["cost_usd"])
    assert rows["agent"]["reserved_usd"] == 0 and rows["agent"]["resets_at"]
    usage = subprocess.run(
        [str(BIN), "usage", "--config", str(proxy.config_path), "--by", "actor", "--json"],
        capture_output=True,
        text=True,
        env=base_env(),
        check=True,
    )
    by_actor = {row["key"]: row for row in json.loads(usage.stdout)}
    assert by_actor["agent"]["requests"] == 2 and by_actor["agent"]["refused"] == 1
    assert by_actor["agent"]["unpriced"] == 0  # the refused call never reached the provider
    reset = subprocess.run(
        [
            str(BIN),
            "budget",
            "reset",
            "per-actor-daily",
            "--scope-value",
            "agent",
            "--config",
            str(proxy.config_path),
        ],
        capture_output=True,
        text=True,
        env=base_env(),
    )
    assert reset.returncode == 0, reset.stderr
    assert {r["scope_value"]: r for r in budget_status(proxy, "--actor", "agent")}["agent"]["spent_usd"] == 0


def test_fifty_concurrent_streams_across_two_replicas_never_overspend(proxy_factory, upstream, redis_proc):
    limit = Decimal("0.003")
    config = {
        "storage": {"url": redis_proc.url, "key_prefix": "palaryn-e2e:"},
        "budgets": [
            {"name": "global-total", "scope": "global", "period": "total", "limit_usd": float(limit)}
        ],
    }
    replicas = [proxy_factory(config, name="replica-a"), proxy_factory(config, name="replica-b")]
    # Each call: 5 input + 900 output tokens of gpt-4o-mini ($0.00054075); worst case with max_tokens=1000 is more.
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(20, 5, 900), SSE, chunks=6, delay=0.05)

    async def one(i: int) -> int:
        proxy = replicas[i % 2]
        trust = ssl.create_default_context(cafile=str(proxy.ca_file))
        async with httpx.AsyncClient(proxy=proxy.url, verify=trust, timeout=60, trust_env=False) as c:
            resp = await c.post("https://api.openai.com/v1/chat/completions", json=request(1000))
            return resp.status_code

    async def all_of_them() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(50)))

    statuses = asyncio.run(all_of_them())
    assert set(statuses) == {200, 402}
    records = replicas[0].wait_records(25) + replicas[1].wait_records(25)
    assert len(records) == 50
    spent = Decimal(str(budget_status(replicas[0])[0]["spent_usd"]))
    audited = sum(Decimal(r["cost_usd"]) for r in records if r["cost_usd"] is not None)
    assert spent == audited
    assert 0 < spent <= limit
    assert statuses.count(200) == sum(r["decision"] == "allow" for r in records) >= 3
    assert statuses.count(402) == sum(r["decision"] == "budget_exceeded" for r in records)
    assert budget_status(replicas[1])[0]["reserved_usd"] == 0  # every reservation settled


def test_stream_that_would_overspend_is_cut_with_an_error_event(proxy_factory, upstream):
    # max_tokens=20 is admitted, but the upstream ignores it and keeps generating: the budget admits about
    # 30 output tokens for this call, so the stream is cut there with an error event the SDK raises.
    proxy = proxy_factory(
        {"budgets": [{"name": "tight", "scope": "global", "period": "day", "limit_usd": 0.00002}]}
    )
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(300, 5, 300), SSE, chunks=60, delay=0.01)
    sdk = openai.OpenAI(
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(
            proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_file))
        ),
    )
    received = []
    with pytest.raises(openai.APIError) as err:
        for event in sdk.chat.completions.create(
            model="gpt-4o-mini", max_tokens=20, stream=True, messages=[{"role": "user", "content": "go"}]
        ):
            received.extend(c.delta.content for c in event.choices if c.delta.content)
    assert "budget" in str(err.value)
    assert 20 <= len(received) < 300
    record = proxy.wait_records(1)[0]
    assert record["decision"] == "budget_exceeded" and record["status"] == 200
    assert record["usage"]["output_tokens"] == 300  # what the upstream billed, even though the client was cut
    assert any(r["rule"] == "mid_stream" for r in record["reasons"])


def test_rate_limit_429_with_retry_after(proxy_factory):
    proxy = proxy_factory(
        {"rate_limits": [{"name": "actor-rpm", "scope": "actor", "requests_per_minute": 2}]}
    )
    with client(proxy) as c:
        codes = [c.get("https://upstream.test/echo") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    refused = codes[2]
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-palaryn-decision"] == "rate_limited"
    assert "actor-rpm" in refused.json()["error"]["message"]
    assert proxy.wait_records(3)[2]["decision"] == "rate_limited"


def test_llm_call_over_its_rate_limit_gets_429_and_holds_no_budget(proxy_factory, upstream):
    # With a budget too, the rate-limit check and the reservation go to storage together; the rate limit's
    # refusal wins and the reservation made alongside it is released.
    proxy = proxy_factory(
        {
            "budgets": [{"name": "daily", "scope": "actor", "period": "day", "limit_usd": 5}],
            "rate_limits": [{"name": "llm-rpm", "scope": "actor", "requests_per_minute": 1}],
        }
    )
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(2, 5, 10), SSE)
    with client(proxy) as c:
        codes = [c.post("https://api.openai.com/v1/chat/completions", json=request(50)) for _ in range(2)]
    assert [r.status_code for r in codes] == [200, 429]
    assert codes[1].headers["x-palaryn-decision"] == "rate_limited" and "llm-rpm" in codes[1].text
    records = proxy.wait_records(2)
    assert [r["decision"] for r in records] == ["allow", "rate_limited"]
    row = {r["scope_value"]: r for r in budget_status(proxy)}["agent"]
    assert Decimal(str(row["spent_usd"])) == Decimal(records[0]["cost_usd"]) and row["reserved_usd"] == 0


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_redis_down_then_back(proxy_factory, upstream, redis_proc, fail_mode):
    proxy = proxy_factory(
        {
            "fail_mode": fail_mode,
            "storage": {"url": redis_proc.url + "?socket_timeout=0.5&socket_connect_timeout=0.5"},
            "budgets": [{"name": "g", "scope": "global", "period": "day", "limit_usd": 5}],
        }
    )
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(2, 5, 10), SSE)
    with client(proxy) as c:
        assert c.post("https://api.openai.com/v1/chat/completions", json=request(50)).status_code == 200
        redis_proc.stop()
        down = c.post("https://api.openai.com/v1/chat/completions", json=request(50))
        assert c.get("https://upstream.test/echo").status_code == 200  # non-LLM traffic is unaffected
        redis_proc.start()
        back = c.post("https://api.openai.com/v1/chat/completions", json=request(50))
    assert back.status_code == 200
    records = proxy.wait_records(4)
    if fail_mode == "closed":
        assert down.status_code == 503 and "budget storage unreachable" in down.json()["error"]["message"]
        assert records[1]["decision"] == "error"
    else:
        assert down.status_code == 200
        assert any(r["rule"] == "budget_unchecked" for r in records[1]["reasons"])


def test_warn_at_header(proxy_factory, upstream):
    proxy = proxy_factory(
        {
            "budgets": [
                {"name": "warned", "scope": "global", "period": "day", "limit_usd": 0.01, "warn_at": 0.01}
            ]
        }
    )
    upstream.app.serve_fixture("/v1/chat/completions", stream_body(2, 5, 900), SSE)
    with client(proxy) as c:
        first = c.post("https://api.openai.com/v1/chat/completions", json=request(1000))
        second = c.post("https://api.openai.com/v1/chat/completions", json=request(1000))
    assert "x-palaryn-budget-warning" not in first.headers
    assert "warned" in second.headers["x-palaryn-budget-warning"]
    records = proxy.wait_records(2)
    assert any(r["rule"] == "warn_at:warned" for r in records[0]["reasons"])
