"""A finished LLM flow through every stage leaves no reference cycle: its objects go at once, not at a GC pass."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path

import yaml
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from palaryn_proxy.addons import pipeline
from palaryn_proxy.addons._pipeline import Pipeline
from palaryn_proxy.config import load_config
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.serve.server import skip_message_typecheck

BODY = json.dumps(
    {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": "hello " * 60}]}
).encode()
ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 70, "completion_tokens": 2, "total_tokens": 72},
    }
).encode()


def _runtime(tmp_path: Path) -> Runtime:
    config = {
        "audit_log": str(tmp_path / "audit.jsonl"),
        "storage": {"url": "memory://"},
        "budgets": [{"name": "daily", "scope": "global", "period": "day", "limit_usd": 100}],
        "rate_limits": [{"name": "rpm", "scope": "actor", "requests_per_minute": 1000}],
        "policy_packs": ["default"],
        "ssrf": {"enabled": False},
        "destination_binding": False,
    }
    path = tmp_path / "palaryn.yaml"
    path.write_text(yaml.safe_dump(config))
    return Runtime.build(load_config(path))


async def _one_flow(pipe: Pipeline) -> http.HTTPFlow:
    flow = tflow.tflow()
    req = flow.request
    req.method, req.scheme, req.host, req.port, req.path = (
        "POST",
        "https",
        "api.openai.com",
        443,
        "/v1/chat/completions",
    )
    req.headers = http.Headers(host="api.openai.com", content_type="application/json")
    req.content = BODY
    for hook in ("requestheaders", "request", "responseheaders", "response"):
        if hook == "responseheaders":
            flow.response = http.Response.make(200, ANSWER, {"content-type": "application/json"})
        result = getattr(pipe, hook)(flow)
        if result is not None:
            await result
    return flow


def test_an_llm_flow_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    skip_message_typecheck()  # as the server does: mitmproxy's debug check leaves cycles of its own
    runtime = _runtime(tmp_path)
    pipe = Pipeline(pipeline(runtime))

    async def run() -> int:
        with taddons.context():
            await _one_flow(pipe)  # warm up: first-use caches are not per-flow garbage
            gc.collect()
            gc.disable()
            try:
                flows = [await _one_flow(pipe) for _ in range(5)]
                assert all(f.response is not None and f.response.status_code == 200 for f in flows)
                del flows
                return gc.collect()
            finally:
                gc.enable()
                await runtime.aclose()

    assert asyncio.run(run()) == 0
