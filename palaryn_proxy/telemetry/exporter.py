"""OTLP/HTTP export of finished flows: one CLIENT span each and the GenAI client metrics, never blocking.

A finished flow is handed to an export thread (a bounded queue) that builds its span and metrics; the
SDK's BatchSpanProcessor sends spans from a thread of its own. That processor would silently drop the
oldest span when its queue is full (a slow or dead collector); instead spans waiting to be exported are
counted here, and a span past that bound (or a flow finding the hand-over queue full) is dropped and counted
in `palaryn_otel_dropped_spans`. Endpoint, headers, timeout, service name and batching come from the
standard OTEL_* environment variables.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from palaryn_proxy.telemetry.attributes import (
    FlowFacts,
    is_llm,
    metric_attributes,
    span_attributes,
    span_name,
)

log = logging.getLogger("palaryn")
SCOPE = "palaryn_proxy"
DEFAULT_QUEUE = 2048  # the SDK's default OTEL_BSP_MAX_QUEUE_SIZE
SHUTDOWN_SECONDS = 3.0  # how long shutdown waits for a collector before giving up on what is left
# Bucket boundaries the GenAI metric conventions advise.
TOKEN_BUCKETS = [4.0**i for i in range(14)]
DURATION_BUCKETS = [0.01 * 2**i for i in range(14)]


class _CountingExporter(SpanExporter):
    """Wraps the OTLP exporter: every batch handed over (sent or failed) frees its places in the bound."""

    def __init__(self, inner: SpanExporter, release: Callable[[int], None], on_failure: Callable[[], None]):
        self.inner = inner
        self.release = release
        self.on_failure = on_failure

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        finally:
            self.release(len(spans))
        if result is not SpanExportResult.SUCCESS:
            self.on_failure()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Telemetry:
    """The proxy's OpenTelemetry tracer and meter; `record(facts)` is called once per finished flow."""

    def __init__(
        self,
        *,
        on_drop: Callable[[], None],
        on_export_failure: Callable[[], None],
        span_exporter: SpanExporter | None = None,
        metric_reader: MetricReader | None = None,
    ):
        self.on_drop = on_drop
        self.limit = _env_int("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_QUEUE)
        self._pending = 0  # spans handed to the processor and not yet exported
        self._lock = threading.Lock()
        resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "palaryn-proxy"}))
        exporter = _CountingExporter(span_exporter or OTLPSpanExporter(), self._release, on_export_failure)
        self.processor = BatchSpanProcessor(exporter, max_queue_size=self.limit)
        # No atexit shutdown: close() bounds it, a dead collector must not hold the process for 30s.
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(self.processor)
        self.tracer = self.tracer_provider.get_tracer(SCOPE)
        self.reader = metric_reader or PeriodicExportingMetricReader(OTLPMetricExporter())
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=[self.reader], shutdown_on_exit=False
        )
        meter = self.meter_provider.get_meter(SCOPE)
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from the request to the first generated chunk of a streamed answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.propagator = TraceContextTextMapPropagator()
        self._parents: dict[str, tuple[str, str | None]] = {}  # request id -> incoming trace context
        self._closed = False
        self._inbox: queue.Queue[tuple[FlowFacts, int] | None] = queue.Queue(self.limit)
        self._worker = threading.Thread(target=self._work, name="palaryn-otel", daemon=True)
        self._worker.start()

    def begin(self, request_id: str, traceparent: str | None, tracestate: str | None) -> None:
        """Remember a request's incoming `traceparent` until its flow finishes (taken by `parent_of`)."""
        if traceparent:
            self._parents[request_id] = (traceparent, tracestate)

    def parent_of(self, request_id: str) -> tuple[str, str | None] | None:
        return self._parents.pop(request_id, None)

    def record(self, facts: FlowFacts) -> None:
        """Hand the flow to the export thread (building a span costs the SDK a few hundred microseconds,
        kept off the event loop); a full hand-over queue drops it, counted."""
        try:
            self._inbox.put_nowait((facts, time.time_ns()))
        except queue.Full:
            self.on_drop()

    def _work(self) -> None:
        while (item := self._inbox.get()) is not None:
            facts, end = item
            try:
                self._span(facts, end)
                if is_llm(facts):
                    self._metrics(facts)
            except Exception:  # boundary: one flow the SDK refuses must not end the export thread
                log.exception("otel: cannot export flow %s", facts.record.get("request_id"))

    def _span(self, facts: FlowFacts, end: int) -> None:
        with self._lock:
            if self._pending >= self.limit:
                full = True
            else:
                full = False
                self._pending += 1
        if full:
            self.on_drop()
            return
        start = end - int(facts.duration_s * 1e9)
        carrier = {"traceparent": facts.traceparent} if facts.traceparent else {}
        if carrier and facts.tracestate:
            carrier["tracestate"] = facts.tracestate
        parent = self.propagator.extract(carrier) if carrier else None
        span = self.tracer.start_span(
            span_name(facts),
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=span_attributes(facts),
            start_time=start,
        )
        if (error := span_attributes_error(facts)) is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=end)

    def _metrics(self, facts: FlowFacts) -> None:
        attrs = metric_attributes(facts)
        self.duration.record(facts.duration_s, attrs)
        usage = facts.record.get("usage")
        if usage:
            self.token_usage.record(usage["input_tokens"], {**attrs, "gen_ai.token.type": "input"})
            self.token_usage.record(usage["output_tokens"], {**attrs, "gen_ai.token.type": "output"})
        if facts.ttft_s is not None:
            self.first_chunk.record(facts.ttft_s, attrs)

    def _release(self, count: int) -> None:
        with self._lock:
            self._pending = max(0, self._pending - count)

    def close(self, timeout_s: float = SHUTDOWN_SECONDS) -> None:
        """Send what is queued within `timeout_s`, then stop (a dead collector does not hold the shutdown:
        the SDK's own shutdown may wait 30s, so it runs on a daemon thread that is waited for that long)."""
        if self._closed:
            return
        self._closed = True
        started = time.monotonic()
        try:
            self._inbox.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._worker.join(max(0.0, timeout_s - (time.monotonic() - started)))
        closer = threading.Thread(
            target=self._shutdown, args=(int(timeout_s * 1000),), name="palaryn-otel-close", daemon=True
        )
        closer.start()
        closer.join(timeout_s)
        if closer.is_alive():
            log.warning("otel: the collector did not take the last spans and metrics within %gs", timeout_s)

    def _shutdown(self, millis: int) -> None:
        self.meter_provider.shutdown(timeout_millis=millis)
        self.processor.shutdown()


def span_attributes_error(facts: FlowFacts) -> str | None:
    """A span's error description: a failed call (status >= 400) or a flow the proxy refused or lost."""
    record = facts.record
    status = record.get("status")
    if isinstance(status, int) and status >= 400:
        return f"HTTP {status} ({record.get('decision')})"
    if record.get("decision") == "error":
        return "the flow failed"
    return None


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default
