"""Drive the real stage pipeline on mitmproxy's test flows: a Runtime from a YAML config, hooks in mitmproxy's order.

A `Harness` is what `palaryn-proxy run` builds (Runtime.build on a written config, `pipeline(runtime)` wrapped in
one `Pipeline` addon), minus the sockets: tests hand it `tflow` flows and a canned upstream answer, and read
the answer the client got, the request the upstream would have got, the audit log and the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from mitmproxy import http
from mitmproxy.net.http.url import default_port
from mitmproxy.test import tflow, tutils

from palaryn_proxy.addons import pipeline
from palaryn_proxy.addons._flow import state_of
from palaryn_proxy.addons._pipeline import Pipeline
from palaryn_proxy.config import load_config
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import FlowState

JSON = "application/json"
CHAT_PATH = "/v1/chat/completions"


class Harness:
    """One configured proxy without sockets. Defaults keep tests hermetic: the audit log and storage are
    the test's own (`memory://`: nothing under ~/.palaryn) and the SSRF guard, which resolves names, is off."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.audit_path = workdir / "audit.jsonl"
        values = {
            "audit_log": str(self.audit_path),
            "storage": {"url": "memory://"},
            "ssrf": {"enabled": False},
            **config,
        }
        path = workdir / "palaryn.yaml"
        path.write_text(yaml.safe_dump(values))
        self.runtime = Runtime.build(load_config(path, environ={}))
        self.stages = pipeline(self.runtime)
        self.pipe = Pipeline(self.stages)
        self.upstream_saw: list[http.Request] = []  # copies of what each flow sent upstream

    async def hook(self, name: str, *args: Any) -> None:
        """Run one mitmproxy hook through every stage, as the one Pipeline addon does."""
        fn = getattr(self.pipe, name, None)
        if fn is None:
            return
        result = fn(*args)
        if result is not None:
            await result

    async def request_phase(self, flow: http.HTTPFlow) -> None:
        await self.hook("requestheaders", flow)
        await self.hook("request", flow)

    async def response_phase(
        self, flow: http.HTTPFlow, upstream: http.Response | None = None, chunks: int = 1
    ) -> bytes:
        """What mitmproxy does after the request hook: a response a stage set is sent as it is (still through
        responseheaders and response); otherwise the upstream answers, streamed through `response.stream`
        when a stage asked for it. Returns the body bytes the client receives."""
        if flow.response is None:
            self.upstream_saw.append(flow.request.copy())
            flow.response = upstream if upstream is not None else ok()
            body = flow.response.raw_content or b""
            flow.response.data.content = None  # only the headers have arrived
            await self.hook("responseheaders", flow)
            stream = flow.response.stream
            if callable(stream):
                sent = _stream(stream, body, chunks)
                await self.hook("response", flow)
                return sent
            if stream:
                await self.hook("response", flow)
                return body
            flow.response.data.content = body
        else:
            await self.hook("responseheaders", flow)
        await self.hook("response", flow)
        return (flow.response.raw_content or b"") if flow.response is not None else b""

    async def send(
        self, flow: http.HTTPFlow, upstream: http.Response | None = None, chunks: int = 1
    ) -> bytes:
        """One whole exchange; returns the body the client receives (see `response_phase`)."""
        await self.request_phase(flow)
        return await self.response_phase(flow, upstream, chunks)

    def records(self) -> list[dict[str, Any]]:
        """Every audit record written so far (waits for the writer thread)."""
        assert self.runtime.audit is not None
        self.runtime.audit.flush()
        return [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]

    def record(self, flow: http.HTTPFlow) -> dict[str, Any]:
        """The one audit record of `flow` (fails if there is none, or more than one)."""
        rid = state(flow).request_id
        [found] = [r for r in self.records() if r["request_id"] == rid]
        return found

    async def aclose(self) -> None:
        await self.hook("done")
        await self.runtime.aclose()


def _stream(stream: Any, body: bytes, chunks: int) -> bytes:
    size = max(1, -(-len(body) // chunks))
    out: list[bytes] = []
    for piece in [body[i : i + size] for i in range(0, len(body), size)] + [b""]:
        produced = stream(piece)
        out.extend([produced] if isinstance(produced, bytes) else produced)
    return b"".join(out)


def state(flow: http.HTTPFlow) -> FlowState:
    found = state_of(flow)
    assert found is not None, "the identity stage gave this flow no state"
    return found


def flow(
    url: str,
    method: str = "GET",
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    json_body: Any = None,
) -> http.HTTPFlow:
    """A client request as mitmproxy hands it to the hooks: inside a TLS tunnel for https (SNI set),
    a plain proxied request for http."""
    f = tflow.tflow()
    req = f.request
    req.url = url
    req.method = method
    default = req.port == default_port(req.scheme)
    req.headers = http.Headers(host=req.host if default else f"{req.host}:{req.port}")
    for name, value in headers:
        req.headers.add(name, value)
    if json_body is not None:
        req.headers["content-type"] = JSON
        body = json.dumps(json_body).encode()
    req.raw_content = body or b""  # as sent: a Content-Encoding header names how `body` is encoded
    if body:
        req.headers["content-length"] = str(len(body))
    f.client_conn.sni = req.host if req.scheme == "https" else None
    f.client_conn.tls = req.scheme == "https"
    f.server_conn.address = (req.host, req.port)
    return f


def connect_flow(authority: str, headers: Iterable[tuple[str, str]] = ()) -> http.HTTPFlow:
    """An HTTP CONNECT request (the `http_connect` hook's flow)."""
    host, _, port = authority.rpartition(":")
    f = tflow.tflow()
    f.request = tutils.treq(
        method=b"CONNECT",
        scheme=b"",
        host=host,
        port=int(port),
        authority=authority.encode(),
        path=b"",
        headers=http.Headers(host=authority),
        content=b"",
    )
    for name, value in headers:
        f.request.headers.add(name, value)
    f.client_conn.sni = None
    return f


def ok(
    body: bytes = b'{"ok": true}', content_type: str = JSON, status: int = 200, **headers: str
) -> http.Response:
    return http.Response.make(status, body, {"content-type": content_type, **headers})


def chat_request(model: str = "gpt-4o-mini", max_tokens: int | None = 50, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def chat_flow(actor: str = "agent", **request: Any) -> http.HTTPFlow:
    """An OpenAI chat completion call."""
    return flow(
        "https://api.openai.com" + CHAT_PATH,
        "POST",
        headers=[("X-Palaryn-Actor", actor)],
        json_body=chat_request(**request),
    )


def chat_answer(
    prompt_tokens: int = 100, completion_tokens: int = 200, tool_calls: list[str] | None = None
) -> http.Response:
    """A non-streamed OpenAI chat completion with its usage (and tool calls, if given)."""
    message: dict[str, Any] = {"role": "assistant", "content": "hi"}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": "{}"}}
            for i, name in enumerate(tool_calls)
        ]
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return ok(json.dumps(answer).encode())


def error_of(flow: http.HTTPFlow) -> dict[str, Any]:
    """The `error` object of a refusal the proxy answered with."""
    assert flow.response is not None
    return json.loads(flow.response.content or b"{}")["error"]


def metric(counter: Any, **labels: str) -> float:
    """A counter's value for the label values given (summed over the others), 0 when never counted."""
    unknown = set(labels) - set(counter._labelnames)  # a misspelt label would otherwise always read 0
    assert not unknown, f"{counter} has no label {unknown}"
    return sum(
        s.value
        for m in counter.collect()
        for s in m.samples
        if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())
    )
