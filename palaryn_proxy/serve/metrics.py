"""Prometheus metrics on their own registry (served by palaryn_proxy/serve/adminhttp.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def _memoised(labels_of: Callable[..., Any]) -> Callable[..., Any]:
    """`metric.labels(*values)` remembered per value tuple: prometheus_client checks the values and takes a
    lock on every call, and the proxy asks a dozen per request. Children are never removed, so the cache
    cannot go stale; keyword calls go to the original."""
    children: dict[tuple[Any, ...], Any] = {}

    def labels(*values: Any, **named: Any) -> Any:
        if named:
            return labels_of(*values, **named)
        child = children.get(values)
        if child is None:
            child = children[values] = labels_of(*values)
        return child

    return labels


class Metrics:
    """Every metric the proxy exports; label values are bounded (no URLs, no actors unless enabled)."""

    def __init__(self, actor_labels: bool = False):
        self.registry = CollectorRegistry(auto_describe=True)
        self.actor_labels = actor_labels
        extra = ["actor", "workspace"] if actor_labels else []
        self.requests = Counter(
            "palaryn_requests",
            "Flows handled, by kind and decision.",
            ["kind", "decision", *extra],
            registry=self.registry,
        )
        self.duration = Histogram(
            "palaryn_request_duration_seconds",
            "Flow duration, request to response end.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "palaryn_upstream_errors",
            "Upstream connect/reset/timeout failures.",
            ["reason"],
            registry=self.registry,
        )
        self.stage_errors = Counter(
            "palaryn_stage_errors",
            "Pipeline stages that raised on a flow.",
            ["stage"],
            registry=self.registry,
        )
        self.audit_records = Counter(
            "palaryn_audit_records", "Audit records written.", registry=self.registry
        )
        self.events_written = Counter(
            "palaryn_events_written", "Flows stored in the console's event store.", registry=self.registry
        )
        self.events_dropped = Counter(
            "palaryn_events_dropped",
            "Flows not stored in the event store because its queue was full (the audit log has them: "
            "`palaryn-proxy events import`).",
            registry=self.registry,
        )
        self.events_errors = Counter(
            "palaryn_events_errors", "Failed writes to the event store (retried).", registry=self.registry
        )
        llm = ["provider", "model"]
        self.llm_requests = Counter(
            "palaryn_llm_requests",
            "LLM calls by provider, model and HTTP status.",
            [*llm, "status"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "palaryn_llm_tokens",
            "LLM tokens by type: input, output, cache_read, cache_write, reasoning.",
            [*llm, "type"],
            registry=self.registry,
        )
        self.llm_cost = Counter(
            "palaryn_llm_cost_usd", "LLM spend in US dollars.", llm, registry=self.registry
        )
        self.llm_ttft = Histogram(
            "palaryn_llm_time_to_first_token_seconds",
            "Request start to the first generated token of a stream.",
            ["provider"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.llm_duration = Histogram(
            "palaryn_llm_duration_seconds",
            "LLM call duration, request to response end, by provider and model (other: no known price).",
            llm,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.llm_ttft_by_model = Histogram(
            "palaryn_llm_time_to_first_token_by_model_seconds",
            "Request start to the first generated token of a stream, by provider and model.",
            llm,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.unpriced = Counter(
            "palaryn_unpriced_requests",
            "LLM calls whose model has no known price.",
            ["provider"],
            registry=self.registry,
        )
        self.budget_spent = Gauge(
            "palaryn_budget_spent_usd",
            "Settled spend of the budget's latest counter.",
            ["budget"],
            registry=self.registry,
        )
        self.budget_remaining = Gauge(
            "palaryn_budget_remaining_usd",
            "What the budget's latest counter still admits.",
            ["budget"],
            registry=self.registry,
        )
        self.budget_refusals = Counter(
            "palaryn_budget_refusals",
            "LLM calls refused by a budget (402).",
            ["budget"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "palaryn_rate_limited", "Flows refused by a rate limit (429).", ["rule"], registry=self.registry
        )
        self.storage_errors = Counter(
            "palaryn_storage_errors", "Storage failures seen by a stage.", ["stage"], registry=self.registry
        )
        self.dlp_scan_timeouts = Counter(
            "palaryn_dlp_scan_timeouts",
            "Buffered bodies whose DLP scan passed dlp.scan_timeout_seconds (then dlp.on_timeout applied).",
            ["direction", "outcome"],
            registry=self.registry,
        )
        self.injection_model_skipped = Counter(
            "palaryn_injection_model_skipped",
            "Injection checks judged on the built-in score alone because the classifier (injection.model) "
            "was busy (queue_full), ran past injection.model_timeout_seconds (timeout) or failed (error).",
            ["reason"],
            registry=self.registry,
        )
        self.dlp_findings = Counter(
            "palaryn_dlp_findings",
            "DLP findings by detector type, direction and action.",
            ["type", "direction", "action"],
            registry=self.registry,
        )
        self.estimated = Counter(
            "palaryn_llm_estimated_usage",
            "LLM calls whose usage was estimated because none was reported.",
            ["provider"],
            registry=self.registry,
        )
        self.anomalies = Counter(
            "palaryn_anomalies",
            "Anomaly alerts (the first per entity, type and bucket) by type and severity.",
            ["type", "severity"],
            registry=self.registry,
        )
        self.anomaly_webhook = Counter(
            "palaryn_anomaly_webhook",
            "Anomaly webhook deliveries: sent, failed, dropped (over the per-minute limit).",
            ["result"],
            registry=self.registry,
        )
        self.tls_client_failures = Counter(
            "palaryn_tls_client_failures",
            "TLS handshakes the client refused (pinning, mutual TLS, untrusted CA); hosts at /tls-failures.",
            ["reason"],
            registry=self.registry,
        )
        self.credential_injections = Counter(
            "palaryn_credential_injections",
            "Real credential values put in place of an agent's placeholder, by credential.",
            ["credential"],
            registry=self.registry,
        )
        self.credential_refusals = Counter(
            "palaryn_credential_refusals",
            "Requests refused over a credential placeholder (misplaced, wrong host or actor, bad signature).",
            ["credential", "reason"],
            registry=self.registry,
        )
        self.otel_dropped = Counter(
            "palaryn_otel_dropped_spans",
            "Flow spans not exported because the OTLP export queue was full (a slow or unreachable collector).",
            registry=self.registry,
        )
        self.otel_export_failures = Counter(
            "palaryn_otel_export_failures",
            "OTLP span batches the collector did not accept (refused, timed out or answered an error).",
            registry=self.registry,
        )

        for metric in vars(self).values():
            if isinstance(metric, Counter | Gauge | Histogram) and metric._labelnames:
                metric.labels = _memoised(metric.labels)  # type: ignore[method-assign]

    def observe_flow(
        self, kind: str, decision: str, seconds: float, actor: str = "", workspace: str = ""
    ) -> None:
        labels = [kind, decision, actor, workspace] if self.actor_labels else [kind, decision]
        self.requests.labels(*labels).inc()
        self.duration.labels(kind).observe(seconds)
