"""TLS handshakes that clients refused (pinning, mutual TLS, an untrusted CA): a bounded, thread-safe log per host."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_HOSTS = 256
MAX_DETAIL = 300
# Bounded label values for palaryn_tls_client_failures_total{reason}.
REASONS = ("untrusted_certificate", "closed_during_handshake", "tls_version", "bad_client_hello", "other")


def classify(error: str) -> str:
    """Map mitmproxy's client handshake error text to one of REASONS."""
    text = error.lower()
    if "does not trust" in text or "unknown ca" in text or "bad certificate" in text:
        return "untrusted_certificate"
    if "disconnected during the handshake" in text or "connection closed" in text:
        return "closed_during_handshake"
    if "tls version" in text or "unsupported protocol" in text:
        return "tls_version"
    if "clienthello" in text:
        return "bad_client_hello"
    return "other"


@dataclass
class HostFailures:
    host: str
    count: int
    reason: str
    detail: str
    first_seen: float
    last_seen: float

    def to_dict(self) -> dict[str, object]:
        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

        return {
            "host": self.host,
            "count": self.count,
            "reason": self.reason,
            "detail": self.detail,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
        }


class TlsFailureLog:
    """At most MAX_HOSTS hosts, least recently failing dropped first; written on the proxy loop, read by /tls-failures."""

    def __init__(self, max_hosts: int = MAX_HOSTS):
        self.max_hosts = max_hosts
        self.dropped = 0
        self._hosts: OrderedDict[str, HostFailures] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, host: str, error: str) -> str:
        """Count one refused handshake for `host`; returns its reason class."""
        reason, now = classify(error), time.time()
        host = (host or "(no SNI)").lower()[:253]
        with self._lock:
            entry = self._hosts.pop(host, None)
            if entry is None:
                entry = HostFailures(host, 0, reason, "", now, now)
                if len(self._hosts) >= self.max_hosts:
                    self._hosts.popitem(last=False)
                    self.dropped += 1
            entry.count += 1
            entry.reason, entry.detail, entry.last_seen = reason, error[:MAX_DETAIL], now
            self._hosts[host] = entry
        return reason

    def snapshot(self) -> list[dict[str, object]]:
        """Hosts, most failures first."""
        with self._lock:
            entries = sorted(self._hosts.values(), key=lambda e: (-e.count, e.host))
            return [e.to_dict() for e in entries]

    def to_json(self) -> bytes:
        with self._lock:
            dropped = self.dropped
        return json.dumps({"failures": self.snapshot(), "dropped_hosts": dropped}).encode()
