"""The engine objects a running proxy shares across stages, built once from the validated config."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.anomaly import store as anomaly_store
from palaryn_proxy.audit import Ack, AuditWriter, build_record
from palaryn_proxy.audit.checkpoint import open_checkpointer
from palaryn_proxy.audit.options import AuditDurability
from palaryn_proxy.budget import BudgetEngine
from palaryn_proxy.config import Config
from palaryn_proxy.console.live import LiveHub
from palaryn_proxy.hostmatch import HostMatcher
from palaryn_proxy.identity import IdentityResolver
from palaryn_proxy.ratelimit import RateLimiter
from palaryn_proxy.serve.metrics import Metrics
from palaryn_proxy.storage import Storage, StorageConfig, open_storage
from palaryn_proxy.types import FlowState

log = logging.getLogger("palaryn")


@dataclass
class Runtime:
    config: Config
    identity: IdentityResolver
    metrics: Metrics
    audit: AuditWriter | None
    block_domains: HostMatcher
    passthrough: HostMatcher
    sensitive_query_keys: frozenset[str]
    storage_config: StorageConfig
    storage: Storage | None = None  # opened only when a stage needs shared state
    budgets: BudgetEngine | None = None
    rate_limits: RateLimiter | None = None
    registry: Any = None  # the provider registry, set by the pipeline
    events: Any = None  # the console's EventSink (palaryn_proxy.events), when events.enabled
    telemetry: Any = None  # the OTLP exporter (palaryn_proxy.telemetry), when otel.enabled
    live: LiveHub = field(default_factory=LiveHub)  # finished flows for the console's live views
    stages: dict[str, Any] = field(default_factory=dict)  # stage objects that other stages or shutdown need

    @classmethod
    def build(cls, config: Config, *, open_audit: bool = True) -> Runtime:
        budget_config = config.sections.budgets
        rate_config = config.sections.rate_limits
        storage_config = config.sections.storage
        budgets_on = bool(budget_config.budgets) or budget_config.per_request_max_usd is not None
        storage = None
        approvals_on = bool(config.policy_packs)  # REQUIRE_APPROVAL rules keep approvals in storage
        if budgets_on or rate_config.rules or approvals_on:
            storage = open_storage(storage_config.url, key_prefix=storage_config.key_prefix)
        elif (
            config.sections.anomaly.enabled and config.sections.anomaly.persist
        ):  # baselines only: an unopenable store just logs
            storage = anomaly_store.open_optional_storage(storage_config)
        audit = None
        if open_audit:
            options = config.audit_options
            audit = AuditWriter(
                config.audit_log,
                config.audit_max_bytes,
                options.fsync,
                acknowledged=options.durability is AuditDurability.ACKNOWLEDGED,
                checkpointer=open_checkpointer(options, config.audit_log),
            )
        runtime = cls(
            config=config,
            identity=IdentityResolver(config.identity),
            metrics=Metrics(actor_labels=config.metrics_actor_labels),
            audit=audit,
            block_domains=HostMatcher(config.block_domains),
            passthrough=HostMatcher(config.passthrough_hosts),
            sensitive_query_keys=frozenset(k.lower() for k in config.mask_query_keys),
            storage_config=storage_config,
            storage=storage,
            budgets=BudgetEngine(budget_config, storage) if storage is not None and budgets_on else None,
            rate_limits=RateLimiter(rate_config, storage)
            if storage is not None and rate_config.rules
            else None,
        )
        if open_audit and config.sections.events.enabled:
            runtime.events = open_events(config, runtime.metrics)
        if open_audit and config.sections.otel.enabled:
            from palaryn_proxy.telemetry import open_telemetry

            metrics = runtime.metrics
            runtime.telemetry = open_telemetry(
                on_drop=metrics.otel_dropped.inc, on_export_failure=metrics.otel_export_failures.inc
            )
        return runtime

    def finish(self, state: FlowState, duration_s: float) -> Ack | None:
        """Write the flow's one audit record and count it; called exactly once per flow. With
        `audit.durability: acknowledged`, returns the future that says when the record is on disk."""
        record = build_record(state, duration_s * 1000, self.sensitive_query_keys)
        ack = None
        if self.audit is not None:
            if self.audit.acknowledged:
                ack = self.audit.write_acked(record)
            else:
                self.audit.write(record)
            self.metrics.audit_records.inc()
        if self.events is not None:
            self.events.submit(record)
        self.live.publish(record)
        self.metrics.observe_flow(
            state.kind.value, state.decision.value, duration_s, state.identity.actor, state.identity.workspace
        )
        if state.provider is not None and state.kind.value == "llm":
            self._observe_llm(state, duration_s)
        if self.telemetry is not None:
            self._export(state, record, duration_s)
        return ack

    def _observe_llm(self, state: FlowState, duration_s: float) -> None:
        """Latency and time to first token by provider and model (unpriced models as `other`: bounded)."""
        provider = state.provider or ""
        known = state.model is not None and self.config.sections.prices.is_known(provider, state.model)
        model = state.model if known and state.model is not None else "other"
        self.metrics.llm_duration.labels(provider, model).observe(duration_s)
        tap = state.stream.tap if state.stream is not None else None
        if tap is not None and tap.first_token_at is not None:
            self.metrics.llm_ttft_by_model.labels(provider, model).observe(tap.first_token_at - state.started)

    def _export(self, state: FlowState, record: dict[str, Any], duration_s: float) -> None:
        """Queue the flow's span and metrics (sent on the SDK's thread)."""
        from palaryn_proxy.telemetry.facts import flow_facts

        facts = flow_facts(state, record, duration_s, self.telemetry.parent_of(state.request_id))
        try:
            self.telemetry.record(facts)
        except Exception:  # boundary: export is best-effort, the flow and its record are done
            self.metrics.stage_errors.labels("otel").inc()
            log.exception("otel: cannot export flow %s", state.request_id)

    def close(self) -> None:
        """Flush and close the audit log and the event store (synchronous: safe from any shutdown path)."""
        self.live.close()
        try:
            if self.events is not None:
                self.events.close()
        finally:
            if self.audit is not None:
                self.audit.close()
            if self.telemetry is not None:
                self.telemetry.close()

    async def aclose(self) -> None:
        """Close storage, then the audit log."""
        try:
            if self.storage is not None:
                await self.storage.close()
        finally:
            self.close()


def open_events(config: Config, metrics: Metrics) -> Any:
    """The event store's writer; a store that cannot be opened stops the start with its message."""
    from palaryn_proxy.events import EventSink, open_event_store

    events = config.sections.events

    def on_error(exc: Exception) -> None:
        metrics.events_errors.inc()
        log.warning("event store: %s", exc)

    sink = EventSink(
        open_event_store(events.url),
        retention_days=events.retention_days,
        on_drop=metrics.events_dropped.inc,
        on_written=metrics.events_written.inc,
        on_error=on_error,
    )
    sink.start()
    return sink
