"""The engine objects a running proxy shares across stages, built once from the validated config."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.audit import AuditWriter, build_record
from palaryn_proxy.config import Config
from palaryn_proxy.hostmatch import HostMatcher
from palaryn_proxy.identity import IdentityResolver
from palaryn_proxy.metrics import Metrics
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
    registry: Any = None  # palaryn_proxy.providers.registry.ProviderRegistry once LLM usage is wired
    stages: dict[str, Any] = field(default_factory=dict)  # engine objects of later stages, by stage name

    @classmethod
    def build(cls, config: Config, *, open_audit: bool = True) -> Runtime:
        audit = (
            AuditWriter(config.audit_log, config.audit_max_bytes, config.audit_fsync) if open_audit else None
        )
        return cls(
            config=config,
            identity=IdentityResolver(config.identity),
            metrics=Metrics(actor_labels=config.metrics_actor_labels),
            audit=audit,
            block_domains=HostMatcher(config.block_domains),
            passthrough=HostMatcher(config.passthrough_hosts),
            sensitive_query_keys=frozenset(k.lower() for k in config.mask_query_keys),
        )

    def finish(self, state: FlowState, duration_s: float) -> None:
        """Write the flow's one audit record and count it; called exactly once per flow."""
        record = build_record(state, duration_s * 1000, self.sensitive_query_keys)
        if self.audit is not None:
            self.audit.write(record)
            self.metrics.audit_records.inc()
        self.metrics.observe_flow(
            state.kind.value, state.decision.value, duration_s, state.identity.actor, state.identity.workspace
        )

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
