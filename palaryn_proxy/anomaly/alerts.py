"""Alert values: the anomaly types, severities, actions and the Alert record the audit stage stores."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class AnomalyType(enum.StrEnum):
    REQUEST_RATE_SPIKE = "request_rate_spike"
    ERROR_RATE_SPIKE = "error_rate_spike"
    LATENCY_SPIKE = "latency_spike"
    UNUSUAL_PAYLOAD_SIZE = "unusual_payload_size"
    NEW_TOOL_USAGE = "new_tool_usage"
    CAPABILITY_ESCALATION = "capability_escalation"
    OFF_HOURS_ACTIVITY = "off_hours_activity"
    TOKEN_RATE_SPIKE = "token_rate_spike"
    COST_SPIKE = "cost_spike"
    REPEATED_REQUEST = "repeated_request"


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Action(enum.StrEnum):
    """What the proxy does about an alert; OFF means the type is not evaluated at all."""

    LOG = "log"
    FLAG = "flag"
    BLOCK = "block"
    OFF = "off"


def severity_for_z(z: float) -> Severity:
    """The issue's scale: z >= 6 is high, z >= 4 medium, anything else that alerted is low."""
    if z >= 6.0:
        return Severity.HIGH
    if z >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW


@dataclass(frozen=True, slots=True)
class Alert:
    """One anomaly. `first` is False when the same entity already raised this type in the current
    rate bucket: apply its action again (a block keeps blocking) but do not re-notify or re-record it.
    The message never carries URLs, bodies or header values."""

    type: AnomalyType
    severity: Severity
    entity: str  # "<kind>:<name>", e.g. "actor:alice", "tool:api.github.com"
    metric: str
    value: float
    baseline_mean: float | None
    z_score: float | None
    action: Action
    message: str
    ts: float
    first: bool = True
    # The actor a workspace- or tool-level alert is blamed on (see detector.py, "attribution"); None: the
    # alert is the entity's own (a latency spike of a tool, a spike no single actor explains).
    attributed_to: str | None = None

    @property
    def target(self) -> str:
        """The entity a block holds: the blamed actor, else the alert's own entity."""
        return f"actor:{self.attributed_to}" if self.attributed_to else self.entity

    def to_dict(self) -> dict[str, Any]:
        """The audit record's `anomalies` entry."""
        out = {
            "type": str(self.type),
            "severity": str(self.severity),
            "entity": self.entity,
            "metric": self.metric,
            "value": round(self.value, 6),
            "baseline_mean": None if self.baseline_mean is None else round(self.baseline_mean, 6),
            "z_score": None if self.z_score is None else round(self.z_score, 3),
            "action": str(self.action),
            "message": self.message,
            "ts": self.ts,
        }
        if self.attributed_to is not None:
            out["attributed_to"] = self.attributed_to
        return out
