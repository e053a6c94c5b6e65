"""The official SDKs behind the proxy, configured only through `palaryn-proxy env`: usage, cost, metrics,
force_stream_usage, estimation accuracy and the `usage` report."""

from __future__ import annotations

import json
import ssl
import subprocess
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from e2e.harness import BIN, base_env
from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.types import Usage
from palaryn_proxy.usage.tokens import get_encoding

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
SSE, JSON = "text/event-stream", "application/json"
PRICES = PriceBook()


def chat_chunk(
    content: str | None = None, usage: dict | None = None, model: str = "gpt-4o-2024-08-06"
) -> str:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return f"data: {json.dumps(chunk)}\n\n"


def test_openai_sdk_chat_usage_and_cost(proxy, agent_env, upstream):
    body = (FIXTURES / "openai_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, JSON)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "What is the weather in Paris?"}]
    )
    completion = raw.parse()
    assert completion.usage.prompt_tokens == 2006
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    expected = Usage(2006, 18, 1920, 0, 0)
    assert record["usage"] == expected.to_dict()
    assert Decimal(record["cost_usd"]) == PRICES.cost("openai", "gpt-4o-2024-08-06", "gpt-4o", expected)
    assert (record["provider"], record["api"], record["tool"]) == (
        "openai",
        "chat.completions",
        "chat.completions",
    )


def test_openai_sdk_stream_with_include_usage(proxy, agent_env, upstream):
    usage = {
        "prompt_tokens": 21,
        "completion_tokens": 3,
        "total_tokens": 24,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    body = (chat_chunk("Hel") + chat_chunk("lo!") + chat_chunk(None, usage) + "data: [DONE]\n\n").encode()
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE, chunks=4, delay=0.05)
    before = len(proxy.records())
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}],
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello!"
    record = proxy.next_record(before)
    assert record["usage"]["input_tokens"] == 21 and record["usage"]["output_tokens"] == 3
    assert record["usage"]["estimated"] is False and record["cost_usd"] is not None


def test_anthropic_sdk_stream_with_cache_tokens(proxy, agent_env, upstream):
    body = (FIXTURES / "anthropic_stream.sse").read_bytes()
    upstream.app.serve_fixture("/v1/messages", body, SSE, chunks=5)
    before = len(proxy.records())
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "weather in SF?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 89
    record = proxy.next_record(before)
    expected = Usage(1472, 89, 1000, 0, 0)
    assert record["provider"] == "anthropic" and record["usage"] == expected.to_dict()
    assert Decimal(record["cost_usd"]) == PRICES.cost(
        "anthropic", "claude-sonnet-4-5-20250929", None, expected
    )


def test_anthropic_sdk_blocked_error_is_readable(proxy_factory, monkeypatch):
    proxy = proxy_factory({"block_domains": ["api.anthropic.com"]})
    for name, value in proxy.env.items():
        monkeypatch.setenv(name, value)
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError) as err:
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert "palaryn: requests to api.anthropic.com are blocked" in str(err.value)
    assert err.value.body["type"] == "error"


def test_azure_openai_sdk_model_from_response(proxy, agent_env, upstream):
    body = (FIXTURES / "azure_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/openai/deployments/gpt4o-prod/chat/completions", body, JSON)
    client = openai.AzureOpenAI(
        api_key="az-test",
        api_version="2024-10-21",
        max_retries=0,
        azure_endpoint="https://contoso.openai.azure.com",
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt4o-prod", messages=[{"role": "user", "content": "hi"}]
    )
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    assert record["provider"] == "azure" and record["model"] == "gpt-4o-2024-08-06"
    assert record["usage"]["cache_read_tokens"] == 1152 and record["cost_usd"] is not None


def test_force_stream_usage_makes_usage_exact(proxy_factory, upstream):
    proxy = proxy_factory({"force_stream_usage": True})
    usage = {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}
    body = (chat_chunk("ok") + chat_chunk(None, usage) + "data: [DONE]\n\n").encode()
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE)
    before = len(upstream.app.seen)
    client = openai.OpenAI(
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(
            proxy=proxy.url, verify=ssl.create_default_context(cafile=str(proxy.ca_file))
        ),
    )
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "x"}]
        )
    )
    assert (
        chunks[-1].usage is not None and chunks[-1].choices == []
    )  # the SDK takes the extra chunk in stride
    sent = json.loads(
        next(s for s in upstream.app.seen[before:] if s["path"] == "/v1/chat/completions")["body"]
    )
    assert sent["stream_options"] == {"include_usage": True}
    record = proxy.wait_records(1)[0]
    assert record["usage"]["output_tokens"] == 2 and record["usage"]["estimated"] is False


def test_estimate_within_15_percent_of_openai_count(proxy, agent_env, upstream):
    """A stream without usage is estimated; OpenAI's own counting rule for chat prompts is known exactly."""
    messages = [
        {"role": "system", "content": "You are a careful assistant who answers questions about geography."},
        {
            "role": "user",
            "content": "List the five longest rivers in Europe and the countries they cross, "
            "with one sentence on the history of each.",
        },
    ]
    answer = (
        "The Volga crosses Russia and was a trade artery for Vikings and Tatars. The Danube flows through "
        "ten countries and marked the Roman frontier. The Ural runs through Russia and Kazakhstan and "
        "was long a frontier of Cossack settlement. The Dnieper crosses Russia, Belarus and Ukraine and "
        "carried Kyivan Rus commerce. The Don flows through Russia and gave the Don Cossacks their name."
    )
    words = answer.split(" ")
    body = (
        "".join(chat_chunk(w + (" " if i < len(words) - 1 else "")) for i, w in enumerate(words))
        + "data: [DONE]\n\n"
    ).encode()
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE, chunks=8)
    before = len(proxy.records())
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(model="gpt-4o", stream=True, messages=messages)
        if c.choices
    )
    assert text == answer
    enc = get_encoding("o200k_base")
    # OpenAI's documented rule: 3 tokens per message + role and content tokens, + 3 to prime the reply.
    exact_in = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)
    exact_out = len(enc.encode(answer))
    usage = proxy.next_record(before)["usage"]
    assert usage["estimated"] is True
    assert abs(usage["input_tokens"] - exact_in) <= 0.15 * exact_in, (usage, exact_in)
    assert abs(usage["output_tokens"] - exact_out) <= 0.15 * exact_out, (usage, exact_out)


def test_llm_metrics_and_usage_report(proxy, agent_env, upstream):
    body = (FIXTURES / "mistral.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, JSON)
    with httpx.Client(timeout=20) as client:
        resp = client.post(
            "https://api.mistral.ai/v1/chat/completions",
            headers={"X-Palaryn-Actor": "reporter"},
            json={"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]},
        )
    record = proxy.record_for(resp.headers["x-palaryn-request-id"])
    metrics = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
    assert 'palaryn_llm_tokens_total{model="mistral-small-latest",provider="mistral",type="input"}' in metrics
    assert (
        'palaryn_llm_requests_total{model="mistral-small-latest",provider="mistral",status="200"}' in metrics
    )
    assert "palaryn_llm_cost_usd_total" in metrics
    out = subprocess.run(
        [str(BIN), "usage", "--config", str(proxy.config_path), "--by", "actor", "--json", "--since", "1h"],
        capture_output=True,
        text=True,
        env=base_env(),
        check=True,
    )
    rows = {row["key"]: row for row in json.loads(out.stdout)}
    assert rows["reporter"]["requests"] == 1
    assert rows["reporter"]["input_tokens"] == record["usage"]["input_tokens"]
    assert Decimal(rows["reporter"]["cost_usd"]) == Decimal(record["cost_usd"])
    table = subprocess.run(
        [str(BIN), "usage", "--config", str(proxy.config_path), "--by", "model"],
        capture_output=True,
        text=True,
        env=base_env(),
        check=True,
    ).stdout
    assert "mistral-small-latest" in table and "TOTAL" in table
