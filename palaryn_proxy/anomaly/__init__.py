"""Anomaly stage engine: rolling per-entity baselines (constant time per request), stored snapshots, webhook."""

from palaryn_proxy.anomaly.alerts import Action, Alert, AnomalyType, Severity, severity_for_z
from palaryn_proxy.anomaly.config import AnomalyConfig, WorkingHours
from palaryn_proxy.anomaly.detector import AnomalyDetector
from palaryn_proxy.anomaly.store import AnomalyStore, BaselineKeeper, replica_id
from palaryn_proxy.anomaly.webhook import Webhook

__all__ = [
    "Action",
    "Alert",
    "AnomalyConfig",
    "AnomalyDetector",
    "AnomalyStore",
    "AnomalyType",
    "BaselineKeeper",
    "Severity",
    "Webhook",
    "WorkingHours",
    "replica_id",
    "severity_for_z",
]
