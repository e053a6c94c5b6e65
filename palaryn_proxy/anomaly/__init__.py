"""Statistical anomaly detection over agent traffic: rolling per-entity baselines, constant time per request."""

from palaryn_proxy.anomaly.alerts import Action, Alert, AnomalyType, Severity, severity_for_z
from palaryn_proxy.anomaly.config import AnomalyConfig, WorkingHours
from palaryn_proxy.anomaly.detector import AnomalyDetector

__all__ = [
    "Action",
    "Alert",
    "AnomalyConfig",
    "AnomalyDetector",
    "AnomalyType",
    "Severity",
    "WorkingHours",
    "severity_for_z",
]
