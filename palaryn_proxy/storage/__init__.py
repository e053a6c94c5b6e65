"""Budget, rate-limit and approval state behind one small protocol, chosen by URL (memory, SQLite, Redis)."""

from palaryn_proxy.storage.base import (
    Bucket,
    Counter,
    CounterState,
    HitResult,
    ReserveResult,
    SettleResult,
    Storage,
    nanos_to_usd,
    usd_to_nanos,
)
from palaryn_proxy.storage.factory import StorageConfig, open_storage, parse_storage_config, redact_url

__all__ = [
    "Bucket",
    "Counter",
    "CounterState",
    "HitResult",
    "ReserveResult",
    "SettleResult",
    "Storage",
    "StorageConfig",
    "nanos_to_usd",
    "open_storage",
    "parse_storage_config",
    "redact_url",
    "usd_to_nanos",
]
