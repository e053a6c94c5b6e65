"""Every line of the bill through the real proxy with the official SDKs: cache writes by lifetime, server-side
web searches, service tiers, audio tokens, a Bedrock cross-region profile and an Azure deployment name —
tokens, usage.details and cost exact against genai-prices computed here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anthropic
import boto3
import httpx
import openai
from botocore.config import Config as BotoConfig
from genai_prices import calc_price
from genai_prices import types as gp

from e2e.harness import BIN, base_env

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
SSE, JSON = "text/event-stream", "application/json"


def genai_cost(model: str, provider_id: str, tier: str | None = None, **usage: int) -> Decimal:
    """genai-prices' own price for this usage (the proxy prices at the time of the call: so do we)."""
    context = {"service_tier": tier} if tier else None
    return calc_price(
        gp.Usage(**usage),  # type: ignore[arg-type]
        model,
        provider_id=provider_id,
        genai_request_timestamp=datetime.now(UTC),
        price_context=context,
    ).total_price


def check(record: dict[str, Any], counts: tuple[int, int, int, int, int], details: dict[str, Any]) -> None:
    usage = record["usage"]
    got = tuple(usage[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                                   "reasoning_tokens"))  # fmt: skip
    assert got == counts and usage["estimated"] is False
    assert usage.get("details", {}) == details


def test_anthropic_1h_cache_write_and_web_search(proxy, agent_env, upstream):
    upstream.app.serve_fixture("/v1/messages", (FIXTURES / "anthropic_cache_1h.resp.json").read_bytes(), JSON)
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        system=[{"type": "text", "text": "Reference.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    message = raw.parse()
    assert (
        message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 2
    )
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    details = {"cache_write_5m_tokens": 4096, "cache_write_1h_tokens": 8192, "web_searches": 2}
    check(record, (16501, 503, 2048, 12288, 0), details)
    expected = genai_cost(
        "claude-sonnet-4-5-20250929", "anthropic", input_tokens=16501, output_tokens=503,
        cache_read_tokens=2048, cache_write_tokens=12288, **details,
    )  # fmt: skip
    assert Decimal(record["cost_usd"]) == expected
    # the 1h writes and the searches are billed: more than the same tokens as plain 5-minute writes
    plain = genai_cost("claude-sonnet-4-5-20250929", "anthropic", input_tokens=16501, output_tokens=503,
                       cache_read_tokens=2048, cache_write_tokens=12288)  # fmt: skip
    assert expected - plain == Decimal(8192) * (6 - Decimal("3.75")) / 1_000_000 + Decimal(2) * 10 / 1000
    metrics = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", trust_env=False).text
    counted = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'palaryn_llm_tokens_total\{[^}]*model="claude-sonnet-4-5-20250929"[^}]*'
                             r'type="(\w+)"[^}]*\} (\S+)', metrics)
    }  # fmt: skip
    assert counted["cache_write_1h"] >= 8192 and counted["cache_write_5m"] >= 4096
    assert counted["cache_write"] >= counted["cache_write_1h"] + counted["cache_write_5m"]


def test_anthropic_stream_thinking_1h_cache_and_search(proxy, agent_env, upstream):
    body = (FIXTURES / "anthropic_thinking_web_stream.sse").read_bytes()
    upstream.app.serve_fixture("/v1/messages", body, SSE, chunks=6)
    before = len(proxy.records())
    client = anthropic.Anthropic(api_key="sk-ant-test", max_retries=0)
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Who won?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 612
    record = proxy.next_record(before)
    details = {"cache_write_1h_tokens": 6000, "web_searches": 1}
    check(record, (6410, 612, 0, 6000, 240), details)
    expected = genai_cost(
        "claude-sonnet-4-5-20250929", "anthropic", input_tokens=6410, output_tokens=612,
        cache_write_tokens=6000, output_reasoning_tokens=240, **details,
    )  # fmt: skip
    assert Decimal(record["cost_usd"]) == expected


def test_openai_flex_tier(proxy, agent_env, upstream):
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_flex.resp.json").read_bytes(), JSON
    )
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="o4-mini", service_tier="flex", messages=[{"role": "user", "content": "Classify this ticket."}]
    )
    assert raw.parse().service_tier == "flex"
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    check(record, (1500, 420, 1024, 0, 384), {"service_tier": "flex"})
    usage = {
        "input_tokens": 1500,
        "output_tokens": 420,
        "cache_read_tokens": 1024,
        "output_reasoning_tokens": 384,
    }
    expected = genai_cost("o4-mini-2025-04-16", "openai", "flex", **usage)
    assert Decimal(record["cost_usd"]) == expected
    assert expected < genai_cost("o4-mini-2025-04-16", "openai", **usage)  # flex really is cheaper


def test_openai_audio_tokens(proxy, agent_env, upstream):
    body = (FIXTURES / "openai_chat_audio.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, JSON)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": [{"type": "input_audio",
                                                 "input_audio": {"data": "UklGRg==", "format": "wav"}}]}],
    )  # fmt: skip
    completion = raw.parse()
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.audio_tokens == 112
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    details = {"input_audio_tokens": 112, "output_audio_tokens": 76}
    check(record, (135, 94, 0, 0, 0), details)
    expected = genai_cost("gpt-4o-audio-preview-2025-06-03", "openai", "default", input_tokens=135,
                          output_tokens=94, **details)  # fmt: skip
    assert Decimal(record["cost_usd"]) == expected


def test_bedrock_cross_region_profile_with_1h_cache(proxy, agent_env, upstream, monkeypatch):
    profile = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    body = (FIXTURES / "bedrock_cache_ttl.resp.json").read_bytes()
    for path in (f"/model/{profile}/converse", f"/model/{profile.replace(':', '%3A')}/converse"):
        upstream.app.serve_fixture(path, body, JSON, chunks=1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    bedrock = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        verify=os.environ["SSL_CERT_FILE"],
        config=BotoConfig(proxies={"https": os.environ["HTTPS_PROXY"]}, retries={"max_attempts": 1}),
    )
    before = len(proxy.records())
    out = bedrock.converse(modelId=profile, messages=[{"role": "user", "content": [{"text": "Clauses?"}]}])
    assert out["usage"]["cacheWriteInputTokens"] == 5120
    record = proxy.next_record(before)
    assert record["provider"] == "bedrock" and record["model"] == profile
    details = {"cache_write_1h_tokens": 5120}
    check(record, (5157, 22, 0, 5120, 0), details)
    expected = genai_cost(
        profile, "aws", input_tokens=5157, output_tokens=22, cache_write_tokens=5120, **details
    )
    assert record["cost_usd"] is not None and Decimal(record["cost_usd"]) == expected


def test_azure_deployment_named_unlike_its_model(proxy, agent_env, upstream):
    body = (FIXTURES / "azure_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/openai/deployments/team-chat-prod/chat/completions", body, JSON)
    client = openai.AzureOpenAI(
        api_key="az-test",
        api_version="2024-10-21",
        max_retries=0,
        azure_endpoint="https://contoso.openai.azure.com",
    )
    raw = client.chat.completions.with_raw_response.create(
        model="team-chat-prod", messages=[{"role": "user", "content": "hi"}]
    )
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    assert record["provider"] == "azure" and record["model"] == "gpt-4o-2024-08-06"
    check(record, (1280, 16, 1152, 0, 0), {})
    expected = genai_cost("gpt-4o-2024-08-06", "azure", input_tokens=1280, output_tokens=16,
                          cache_read_tokens=1152)  # fmt: skip
    assert Decimal(record["cost_usd"]) == expected


class FakeAdminAPI:
    """A local admin API answering the documented cost-report shapes, in two pages, checking the key."""

    def __init__(self, pages: list[dict[str, Any]], key_header: str, key: str) -> None:
        self.pages, self.key_header, self.key = pages, key_header, key
        self.queries: list[dict[str, list[str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                api.queries.append({"path": [url.path], **query})
                if self.headers.get(api.key_header) != api.key:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(api.pages[1 if query.get("page") == ["page_2"] else 0]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def reconcile_cli(proxy, provider: str, api: FakeAdminAPI, key_env: str, key: str) -> list[dict[str, Any]]:
    env = {**base_env(), key_env: key}
    out = subprocess.run(
        [str(BIN), "reconcile", "--config", str(proxy.config_path), "--provider", provider, "--since", "7d",
         "--api-base", api.url, "--json"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ours_by_model(proxy, provider: str) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = {}
    for record in proxy.records():
        if record.get("provider") == provider and record.get("cost_usd") is not None:
            key = (record["ts"][:10], record["model"])
            totals[key] = totals.get(key, Decimal(0)) + Decimal(record["cost_usd"])
    return totals


def test_reconcile_anthropic_against_its_cost_report(proxy, agent_env, upstream):
    test_anthropic_1h_cache_write_and_web_search(proxy, agent_env, upstream)  # at least one call today
    today = datetime.now(UTC).date().isoformat()
    model = "claude-sonnet-4-5-20250929"
    ours = ours_by_model(proxy, "anthropic")[(today, model)]
    bucket = {"starting_at": f"{today}T00:00:00Z", "ending_at": f"{today}T23:59:59Z"}

    def row(cents: str, token_type: str, model: str = model) -> dict[str, Any]:
        return {"amount": cents, "currency": "USD", "context_window": "0-200k", "cost_type": "tokens",
                "description": f"{model} Usage - {token_type}", "model": model, "service_tier": "standard",
                "token_type": token_type, "workspace_id": None}  # fmt: skip

    pages = [
        {"data": [{**bucket, "results": [row("1.5", "uncached_input_tokens"), row("2.25", "output_tokens")]}],
         "has_more": True, "next_page": "page_2"},
        {"data": [{**bucket, "results": [row("10", "output_tokens", "claude-opus-4-1-20250805")]}],
         "has_more": False, "next_page": None},
    ]  # fmt: skip
    api = FakeAdminAPI(pages, "x-api-key", "sk-ant-admin01-test")
    try:
        lines = reconcile_cli(proxy, "anthropic", api, "ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-test")
    finally:
        api.close()
    by_key = {(line["day"], line["model"]): line for line in lines}
    theirs = Decimal("3.75") / 100
    line = by_key[(today, model)]
    assert Decimal(line["ours_usd"]) == ours and Decimal(line["theirs_usd"]) == theirs
    assert Decimal(line["drift_usd"]) == ours - theirs
    assert Decimal(by_key[(today, "claude-opus-4-1-20250805")]["theirs_usd"]) == Decimal("0.1")
    assert Decimal(by_key[(today, "claude-opus-4-1-20250805")]["ours_usd"]) == 0
    first = api.queries[0]
    assert first["path"] == ["/v1/organizations/cost_report"] and first["bucket_width"] == ["1d"]
    assert first["group_by[]"] == ["description"] and first["starting_at"][0].endswith("Z")
    assert api.queries[1]["page"] == ["page_2"]


def test_reconcile_openai_against_its_costs_api(proxy, agent_env, upstream):
    test_openai_flex_tier(proxy, agent_env, upstream)
    now = datetime.now(UTC)
    today = now.date().isoformat()
    model = "o4-mini-2025-04-16"
    ours = ours_by_model(proxy, "openai")[(today, model)]
    start = int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp())

    def result(value: float, item: str) -> dict[str, Any]:
        return {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
                "line_item": item, "project_id": None}  # fmt: skip

    bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400}
    pages = [
        {"object": "page", "data": [{**bucket, "results": [result(0.0004, f"{model}, input")]}],
         "has_more": True, "next_page": "page_2"},
        {"object": "page", "data": [{**bucket, "results": [result(0.0011, f"{model}, output")]}],
         "has_more": False, "next_page": None},
    ]  # fmt: skip
    api = FakeAdminAPI(pages, "authorization", "Bearer sk-admin-test")
    try:
        lines = reconcile_cli(proxy, "openai", api, "OPENAI_ADMIN_KEY", "sk-admin-test")
    finally:
        api.close()
    line = next(x for x in lines if (x["day"], x["model"]) == (today, model))
    assert Decimal(line["ours_usd"]) == ours and Decimal(line["theirs_usd"]) == Decimal("0.0015")
    assert Decimal(line["drift_usd"]) == ours - Decimal("0.0015")
    first = api.queries[0]
    assert first["path"] == ["/v1/organization/costs"] and first["group_by[]"] == ["line_item"]
    assert first["bucket_width"] == ["1d"] and int(first["start_time"][0]) < start


def test_reconcile_without_admin_key_says_which_variable(proxy):
    out = subprocess.run(
        [str(BIN), "reconcile", "--config", str(proxy.config_path), "--provider", "openai"],
        capture_output=True, text=True, timeout=60, env=base_env(),
    )  # fmt: skip
    assert out.returncode != 0 and "OPENAI_ADMIN_KEY" in out.stderr
