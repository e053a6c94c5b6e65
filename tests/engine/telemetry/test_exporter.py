"""The exporter on the real SDK: spans continue an incoming trace, metrics are recorded, and a stuck
exporter makes spans drop (counted) instead of blocking the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from palaryn_proxy.telemetry import FlowFacts
from palaryn_proxy.telemetry.exporter import Telemetry

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def record(request_id: str = "r1") -> dict:
    return {
        "request_id": request_id,
        "actor": "a",
        "workspace": "w",
        "method": "POST",
        "url": "https://api.openai.com/v1/chat/completions",
        "host": "api.openai.com",
        "kind": "llm",
        "decision": "allow",
        "reasons": [],
        "status": 200,
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-4o-2024-08-06",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 9,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "estimated": False,
        },
        "cost_usd": "0.001",
        "dlp": [],
        "anomalies": [],
    }


class Stuck(SpanExporter):
    """A collector that never answers until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        self.release.wait(30)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.release.set()


def test_span_continues_traceparent_and_metrics_recorded(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = Telemetry(
        on_drop=lambda: None, on_export_failure=lambda: None, span_exporter=spans, metric_reader=reader
    )
    telemetry.begin("r1", f"00-{TRACE}-00f067aa0ba902b7-01", None)
    facts = FlowFacts(record(), 0.25, request_model="gpt-4o", ttft_s=0.05)
    telemetry.record(
        FlowFacts(
            facts.record, facts.duration_s, facts.request_model, facts.ttft_s, (), *telemetry.parent_of("r1")
        )
    )
    wait_until(lambda: telemetry.processor.force_flush() and len(spans.get_finished_spans()) == 1)
    (span,) = spans.get_finished_spans()
    assert span.name == "chat gpt-4o"
    assert format(span.context.trace_id, "032x") == TRACE
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert (span.end_time - span.start_time) / 1e9 == pytest.approx(0.25, abs=1e-3)
    names = {
        m.name: m
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert set(names) == {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
    }
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in names["gen_ai.client.token.usage"].data.data_points
    }
    assert tokens == {"input": 100, "output": 9}
    assert telemetry.parent_of("r1") is None  # taken once
    telemetry.close()


def test_stuck_collector_drops_and_counts_without_blocking(monkeypatch):
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # the unused metric exporter
    stuck = Stuck()
    dropped, failed = [], []
    telemetry = Telemetry(
        on_drop=lambda: dropped.append(1), on_export_failure=lambda: failed.append(1), span_exporter=stuck
    )
    started = time.monotonic()
    for i in range(50):
        telemetry.record(FlowFacts(record(f"r{i}"), 0.01))
    assert time.monotonic() - started < 0.5  # a queue hand-over per flow, nothing waits
    # At most `limit` spans wait for the exporter and `limit` flows in the hand-over queue; the rest drop.
    wait_until(lambda: telemetry._inbox.empty())
    assert telemetry.limit == 4 and 50 - 2 * 4 - 1 <= len(dropped) <= 50 - 4
    assert stuck.calls >= 1
    stuck.release.set()
    wait_until(lambda: telemetry._pending == 0)
    assert failed  # exported (and failed): the places are free again
    before = len(dropped)
    telemetry.record(FlowFacts(record("again"), 0.01))
    wait_until(lambda: telemetry._inbox.empty() and telemetry._pending == 0)
    assert len(dropped) == before
    started = time.monotonic()
    telemetry.close(timeout_s=1.0)
    assert time.monotonic() - started < 2.0


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
