"""The lethal-trifecta flow guard: per task (else actor), remember for a window whether the agent received
private data and untrusted content; once both hold, a request that can carry data out to a host outside
`trusted_hosts` is judged by `flow_guard.action`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.hostmatch import HostMatcher

ACTIONS = ("log", "flag", "require_approval", "block")
FLOW_KEYS = frozenset({"window_seconds", "private_hosts", "trusted_hosts", "action"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEYS = 100_000  # remembered tasks/actors; the oldest are forgotten past this


@dataclass(frozen=True, slots=True)
class FlowGuardConfig:
    enabled: bool = False
    window_seconds: float = 600.0
    private_hosts: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    action: str = "block"


def _hosts(key: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(h, str) and h for h in raw):
        raise ConfigError(f"flow_guard.{key}: expected a list of host names or globs (*.example.com)")
    return tuple(raw)


def parse_flow_guard(values: Mapping[str, Any]) -> FlowGuardConfig:
    raw = values.get("flow_guard")
    if not raw:
        return FlowGuardConfig()
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "flow_guard: expected a mapping {window_seconds, private_hosts, trusted_hosts, action}"
        )
    unknown = sorted(set(raw) - FLOW_KEYS)
    if unknown:
        raise ConfigError(
            f"flow_guard.{unknown[0]}: unknown key; valid keys are {', '.join(sorted(FLOW_KEYS))}"
        )
    window = raw.get("window_seconds", 600)
    if isinstance(window, bool) or not isinstance(window, int | float) or window <= 0:
        raise ConfigError(f"flow_guard.window_seconds: expected a positive number, got {window!r}")
    action = raw.get("action", "block")
    if action not in ACTIONS:
        raise ConfigError(f"flow_guard.action: {action!r} is not one of {', '.join(ACTIONS)}")
    return FlowGuardConfig(
        True,
        float(window),
        _hosts("private_hosts", raw.get("private_hosts")),
        _hosts("trusted_hosts", raw.get("trusted_hosts")),
        str(action),
    )


@dataclass(slots=True)
class _Seen:
    private: tuple[float, str, str] | None = None  # (when, request id, why)
    untrusted: tuple[float, str, str] | None = None


@dataclass(slots=True)
class FlowMemory:
    """What each task (else actor) received lately; in this process (each replica remembers its own flows)."""

    config: FlowGuardConfig
    private: HostMatcher = field(init=False)
    trusted: HostMatcher = field(init=False)
    _seen: dict[str, _Seen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.private = HostMatcher(list(self.config.private_hosts))
        self.trusted = HostMatcher(list(self.config.trusted_hosts))

    def received(
        self, key: str, request_id: str, host: str, sensitive: bool, injected: bool, now: float | None = None
    ) -> None:
        """Record a response: private (a private host, or a secrets/PII finding) and/or untrusted."""
        now = time.time() if now is None else now
        private = self.private.match(host) is not None or sensitive
        untrusted = injected or self.trusted.match(host) is None
        if not (private or untrusted):
            return
        seen = self._seen.pop(key, None) or _Seen()
        if private:
            seen.private = (now, request_id, "a secrets/PII finding" if sensitive else f"private host {host}")
        if untrusted:
            seen.untrusted = (now, request_id, "an injection flag" if injected else f"untrusted host {host}")
        self._seen[key] = seen  # re-inserted: the dict stays ordered oldest first
        while len(self._seen) > MAX_KEYS:
            self._seen.pop(next(iter(self._seen)))

    def exfiltration(
        self, key: str, host: str, method: str, has_body: bool, has_query: bool, now: float | None = None
    ) -> str | None:
        """Why this request is the third leg of the trifecta, naming the two earlier flows; else None."""
        if self.trusted.match(host) is not None or not (
            method.upper() in WRITE_METHODS or has_body or has_query
        ):
            return None
        seen = self._seen.get(key)
        now = time.time() if now is None else now
        horizon = now - self.config.window_seconds
        if seen is None or seen.private is None or seen.untrusted is None:
            return None
        if seen.private[0] < horizon or seen.untrusted[0] < horizon:
            return None
        return (
            f"lethal trifecta: this agent received private data ({seen.private[2]}, request {seen.private[1]}) "
            f"and untrusted content ({seen.untrusted[2]}, request {seen.untrusted[1]}) in the last "
            f"{self.config.window_seconds:g}s, and now sends data to {host}, which is not a trusted host"
        )
