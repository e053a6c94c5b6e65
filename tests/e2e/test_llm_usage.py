"""LLM usage through the real proxy: every adapter's fixtures served by the fake upstream, exact usage and cost
in the audit record, streams forwarded intact and unbuffered, estimation where no usage is reported."""

from __future__ import annotations

import gzip
import json
import ssl
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from e2e.harness import Proxy
from palaryn_proxy.pricing import PriceBook
from palaryn_proxy.types import Usage

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
SSE, JSON = "text/event-stream", "application/json"
# Hosts that local deployments use get test names (localhost would bypass the proxy through NO_PROXY).
HOST_ALIASES = {
    ("localhost", 8000): "vllm.test",
    ("localhost", 11434): "ollama.test",
    ("127.0.0.1", 11434): "ollama.test",
    ("gpu-box.lan", 11434): "ollama.test",
}
PRICES = PriceBook()


def load_cases():
    import importlib.util

    spec = importlib.util.spec_from_file_location("adapter_cases", FIXTURES.parent / "test_adapters.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.CASES


CASES = load_cases()
LLM_CONFIG = {
    "providers": {
        "openai_compatible": {"hosts": ["vllm.test:8000"]},
        "ollama": {"hosts": ["ollama.test:11434"]},
    }
}


@pytest.fixture(scope="module")
def llm_proxy(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(tmp_path_factory.mktemp("llm-proxy"), upstream, shared_certs, LLM_CONFIG)
    yield p
    p.stop()


def client_for(proxy: Proxy, **kwargs) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False, **kwargs)


def send(proxy: Proxy, upstream, case, chunks: int = 3) -> dict:
    host = HOST_ALIASES.get((case.host, case.port), case.host)
    scheme = "http" if case.port != 443 else "https"
    port = f":{case.port}" if case.port != 443 else ""
    body = (FIXTURES / case.body).read_bytes()
    upstream.app.serve_fixture(unquote(case.path.split("?")[0]), body, case.content_type, chunks=chunks)
    request_body = (FIXTURES / case.body.split(".")[0]).with_suffix(".req.json").read_bytes()
    with client_for(proxy) as client:
        resp = client.post(
            f"{scheme}://{host}{port}{case.path}",
            params=case.query or None,
            content=request_body,
            headers={"content-type": JSON},
        )
    assert resp.status_code == 200, resp.text
    assert resp.content == body  # forwarded byte for byte
    return proxy.record_for(resp.headers["x-palaryn-request-id"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_adapter_usage_and_cost_in_audit(llm_proxy, upstream, case):
    record = send(llm_proxy, upstream, case)
    assert record["kind"] == "llm"
    assert record["provider"] == case.provider
    assert record["api"] == case.api
    assert record["model"] == case.model
    usage = record["usage"]
    if case.usage is None:
        assert usage["estimated"] is True and usage["output_tokens"] > 0
        return
    expected = Usage(*case.usage)
    assert usage == expected.to_dict()
    price = PRICES.cost(case.provider, case.model, None, expected)
    assert record["cost_usd"] == (str(price) if price is not None else None)


def test_stream_is_not_buffered(llm_proxy, upstream):
    """The first event reaches the client long before the upstream has finished."""
    events = [
        f'data: {{"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{{"index":0,"delta":{{"content":"w{i} "}}}}]}}\n\n'
        for i in range(5)
    ]
    body = "".join(events).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE, chunks=6, delay=0.4)
    request = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "count"}]}
    with client_for(llm_proxy) as client:
        started = time.monotonic()
        with client.stream("POST", "https://api.openai.com/v1/chat/completions", json=request) as resp:
            first_at = None
            received = b""
            for chunk in resp.iter_raw():
                if first_at is None and chunk:
                    first_at = time.monotonic() - started
                received += chunk
        total = time.monotonic() - started
    assert received == body
    assert first_at is not None and first_at < 1.0 and total > 2.0
    record = llm_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["usage"]["estimated"] is True  # no include_usage chunk: estimated from the text
    assert record["usage"]["output_tokens"] >= 5
    assert any(r["rule"] == "estimated" for r in record["reasons"])


def test_two_thousand_event_stream_passes_intact(llm_proxy, upstream):
    chunks = [
        json.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "delta": {"content": f"t{i} "}}],
            }
        )
        for i in range(2000)
    ]
    final = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2000, "total_tokens": 2012},
    }
    body = "".join(f"data: {c}\n\n" for c in [*chunks, json.dumps(final)]).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE, chunks=400)
    request = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "go"}],
    }
    with client_for(llm_proxy) as client:
        resp = client.post("https://api.openai.com/v1/chat/completions", json=request)
    assert resp.content == body
    record = llm_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["usage"]["input_tokens"] == 12 and record["usage"]["output_tokens"] == 2000
    assert record["usage"]["estimated"] is False
    assert Decimal(record["cost_usd"]) == PRICES.cost(
        "openai", "gpt-4o-mini-2024-07-18", None, Usage(12, 2000)
    )


@pytest.mark.parametrize("name, body, ctype, headers", [
    ("truncated stream", b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hal', SSE, []),
    ("invalid json", b'{"id": "x", "usage": {"prompt_tokens": ', JSON, []),
    ("wrong types", json.dumps({"id": "x", "model": "gpt-4o", "usage": {"prompt_tokens": "many", "completion_tokens": None}}).encode(), JSON, []),
    ("gzip json", gzip.compress(json.dumps({"id": "x", "object": "chat.completion", "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}], "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}).encode()), JSON, [("content-encoding", "gzip")]),
    ("corrupt gzip", b"\x1f\x8b\x08\x00garbage-not-gzip", JSON, [("content-encoding", "gzip")]),
    ("gzip stream", gzip.compress(b'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\ndata: [DONE]\n\n'), SSE, [("content-encoding", "gzip")]),
])  # fmt: skip
def test_bad_responses_are_forwarded_and_never_break_the_proxy(
    llm_proxy, upstream, name, body, ctype, headers
):
    upstream.app.serve_fixture("/v1/chat/completions", body, ctype, chunks=2, headers=headers)
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": ctype == SSE,
    }
    with client_for(llm_proxy) as client:
        with client.stream("POST", "https://api.openai.com/v1/chat/completions", json=request) as resp:
            raw = b"".join(resp.iter_raw())
    assert resp.status_code == 200
    if name == "gzip stream":  # streams are scanned by DLP on the way: the client gets them decoded
        assert raw == gzip.decompress(body) and "content-encoding" not in resp.headers
    else:
        assert raw == body  # forwarded untouched, whatever is wrong with it
    record = llm_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "allow" and record["provider"] == "openai"
    if name == "gzip json":
        assert record["usage"]["input_tokens"] == 9 and record["usage"]["estimated"] is False
    elif name == "gzip stream":
        assert record["usage"]["output_tokens"] == 4 and record["usage"]["estimated"] is False
    else:
        assert record["usage"] is None or record["usage"]["estimated"] is True
    with client_for(llm_proxy) as client:  # still serving
        assert client.get("https://upstream.test/echo").status_code == 200


def test_chunked_json_response(llm_proxy, upstream):
    body = (FIXTURES / "openai_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, JSON, chunks=7, delay=0.01)
    with client_for(llm_proxy) as client:
        resp = client.post(
            "https://api.openai.com/v1/chat/completions",
            content=(FIXTURES / "openai_chat.req.json").read_bytes(),
        )
    record = llm_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["usage"]["input_tokens"] == 2006 and record["usage"]["cache_read_tokens"] == 1920


def test_pricing_override_prices_a_self_hosted_model(proxy_factory, upstream):
    proxy = proxy_factory(
        {
            **LLM_CONFIG,
            "pricing": {"overrides": {"llama3.*": {"input_per_mtok": 0.5, "output_per_mtok": 1.5}}},
            "per_request_max_usd": 10,
        }
    )
    case = next(c for c in CASES if c.name == "ollama_chat")
    record = send(proxy, upstream, case)
    # 26 input + 298 output tokens at $0.50 / $1.50 per million
    assert Decimal(record["cost_usd"]) == Decimal("0.000013") + Decimal("0.000447")
