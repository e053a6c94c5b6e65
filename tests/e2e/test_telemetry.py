"""OpenTelemetry export through the real proxy: a local OTLP/HTTP receiver decodes the protobuf the proxy
sends (spans with HTTP and GenAI attributes, the GenAI client metrics); a broken collector slows no flow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from e2e import harness
from e2e.harness import Proxy, curl, start_proxy
from e2e.upstream import Upstream, free_port

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
SSE, JSON = "text/event-stream", "application/json"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP collector: decodes every export; `hang` makes it never answer."""

    daemon_threads = True

    def __init__(self, hang: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hang = hang
        self.spans: list[tuple[dict[str, Any], Any]] = []  # (resource attributes, span)
        self.metrics: list[Any] = []
        self.requests = 0
        self.release = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans_named(self, name: str, timeout: float = 15.0) -> list[tuple[dict[str, Any], Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(r, s) for r, s in self.spans if s.name == name]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no span {name!r}; got {[s.name for _, s in self.spans]}")

    def points(self, name: str) -> list[Any]:
        return [p for m in self.metrics if m.name == name for p in m.histogram.data_points]

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        if self.server.hang:
            self.server.release.wait(60)
            return
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                self.server.spans.extend((resource, s) for ss in rs.scope_spans for s in ss.spans)
            answer = ExportTraceServiceResponse().SerializeToString()
        else:
            metrics = ExportMetricsServiceRequest.FromString(body)
            for rm in metrics.resource_metrics:
                self.server.metrics.extend(m for sm in rm.scope_metrics for m in sm.metrics)
            answer = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs}


def otel_proxy(workdir: Path, upstream: Upstream, certs: Path, endpoint: str, **env: str) -> Iterator[Proxy]:
    otel_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "palaryn-e2e",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        **env,
    }
    with pytest.MonkeyPatch.context() as mp:
        plain = harness.base_env
        mp.setattr(harness, "base_env", lambda: {**plain(), **otel_env})
        proxy = start_proxy(workdir, upstream, certs, {"otel": {"enabled": True}})
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream: Upstream, shared_certs: Path, receiver: Receiver) -> Iterator[Proxy]:
    yield from otel_proxy(tmp_path_factory.mktemp("otel"), upstream, shared_certs, receiver.endpoint)


def test_llm_call_span_continues_the_agent_trace(proxy, agent_env, upstream, receiver):
    body = (FIXTURES / "openai_chat.resp.json").read_bytes()
    upstream.app.serve_fixture("/v1/chat/completions", body, JSON)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "X-Palaryn-Actor": "otel-agent"},
    )
    record = proxy.record_for(raw.headers["x-palaryn-request-id"])
    spans = [
        (r, s)
        for r, s in receiver.spans_named("chat gpt-4o")
        if attributes(s.attributes)["palaryn.request_id"] == record["request_id"]
    ]
    assert len(spans) == 1
    resource, span = spans[0]
    assert resource["service.name"] == "palaryn-e2e"
    assert span.trace_id.hex() == TRACE_ID and span.parent_span_id.hex() == PARENT_ID
    assert span.kind == span.SPAN_KIND_CLIENT
    assert (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6 == pytest.approx(
        record["duration_ms"], abs=1
    )
    attrs = attributes(span.attributes)
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == record["model"] == "gpt-4o-2024-08-06"
    assert attrs["gen_ai.usage.input_tokens"] == 2006
    assert attrs["gen_ai.usage.output_tokens"] == 18
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1920
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == 0
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 0
    assert attrs["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.response.status_code"] == 200
    assert attrs["server.address"] == "api.openai.com" and attrs["server.port"] == 443
    assert attrs["url.full"] == "https://api.openai.com/v1/chat/completions"
    assert attrs["palaryn.actor"] == record["actor"]
    assert attrs["palaryn.decision"] == "allow"
    assert Decimal(str(attrs["palaryn.cost_usd"])) == Decimal(record["cost_usd"]).quantize(Decimal("1e-12"))
    assert attrs["palaryn.findings.count"] == 0
    wait_for(lambda: sum(p.sum for p in token_points(receiver, "input")) >= 2006)
    assert {p.sum for p in token_points(receiver, "output")} >= {18}
    durations = receiver.points("gen_ai.client.operation.duration")
    assert durations and all(p.count >= 1 for p in durations)
    point = durations[-1]
    assert attributes(point.attributes)["gen_ai.provider.name"] == "openai"


def test_stream_time_to_first_chunk(proxy, agent_env, upstream, receiver):
    usage = {"prompt_tokens": 21, "completion_tokens": 3, "total_tokens": 24}
    body = (chunk("Hel") + chunk("lo!") + chunk(None, usage) + "data: [DONE]\n\n").encode()
    upstream.app.serve_fixture("/v1/chat/completions", body, SSE, chunks=4, delay=0.2)
    client = openai.OpenAI(api_key="sk-test", max_retries=0)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello!"
    receiver.spans_named("chat gpt-4o-mini")

    def first_chunks() -> list[Any]:
        return [
            p
            for p in receiver.points("gen_ai.client.operation.time_to_first_chunk")
            if attributes(p.attributes)["gen_ai.request.model"] == "gpt-4o-mini"
        ]

    wait_for(lambda: bool(first_chunks()))
    point = first_chunks()[-1]
    assert point.count >= 1
    # The first token comes with the first chunk: after the upstream's first delay, well before the end.
    assert 0.0 < point.sum / point.count < 0.6


def test_refused_http_request_span(proxy, agent_env, receiver):
    result = curl(agent_env, "-o", "/dev/null", "-w", "%{http_code}", "https://blocked.test/otel-probe")
    assert result.stdout == b"403"

    def blocked() -> list[dict[str, Any]]:
        spans = [attributes(s.attributes) for _, s in receiver.spans]
        return [a for a in spans if a.get("url.full") == "https://blocked.test/otel-probe"]

    wait_for(lambda: bool(blocked()))
    attrs = blocked()[0]
    assert attrs["palaryn.decision"] == "deny"
    assert attrs["palaryn.reasons"] and attrs["palaryn.reasons"][0].startswith("blocklist:")
    assert attrs["http.response.status_code"] == 403 and attrs["error.type"] == "403"
    assert "gen_ai.provider.name" not in attrs
    assert [s.name for _, s in receiver.spans if attributes(s.attributes) == attrs] == ["GET"]


@pytest.mark.parametrize("collector", ["refusing", "hanging"])
def test_broken_collector_neither_slows_nor_fails_flows(collector, tmp_path, upstream, shared_certs):
    hanging = Receiver(hang=True) if collector == "hanging" else None
    endpoint = hanging.endpoint if hanging else f"http://127.0.0.1:{free_port()}"
    env = {
        "OTEL_BSP_MAX_QUEUE_SIZE": "5",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
    }
    proxies = otel_proxy(tmp_path, upstream, shared_certs, endpoint, **env)
    proxy = next(proxies)
    try:
        agent = proxy.env
        started = time.monotonic()
        for _ in range(30):
            result = curl(agent, "-o", "/dev/null", "-w", "%{http_code}", "https://upstream.test/echo")
            assert result.stdout == b"200"
        elapsed = time.monotonic() - started
        assert elapsed < 15, f"30 flows took {elapsed:.1f}s"
        assert len(proxy.wait_records(30)) == 30
        if hanging is not None:
            wait_for(lambda: metric(proxy, "palaryn_otel_dropped_spans_total") > 0)
            assert hanging.requests >= 1  # the exporter did reach it, and is stuck there
        else:
            wait_for(lambda: metric(proxy, "palaryn_otel_export_failures_total") > 0)
        stopping = time.monotonic()
    finally:
        next(proxies, None)
        if hanging is not None:
            hanging.stop()
    assert proxy.process.returncode == 0
    assert time.monotonic() - stopping < 12  # the shutdown waits for no dead collector


def metric(proxy: Proxy, name: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def token_points(receiver: Receiver, kind: str) -> list[Any]:
    return [
        p
        for p in receiver.points("gen_ai.client.token.usage")
        if attributes(p.attributes).get("gen_ai.token.type") == kind
        and attributes(p.attributes).get("gen_ai.request.model") == "gpt-4o"
    ]


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def chunk(content: str | None, usage: dict[str, int] | None = None) -> str:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    data: dict[str, Any] = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": choices,
    }
    if usage is not None:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n"
