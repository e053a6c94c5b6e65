"""The anomaly detector: feeds each request and response into per-entity baselines and returns alerts."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from palaryn_proxy.anomaly import snapshot
from palaryn_proxy.anomaly.alerts import Action, Alert, AnomalyType, Severity, severity_for_z
from palaryn_proxy.anomaly.config import ENTITY_KINDS, AnomalyConfig
from palaryn_proxy.anomaly.entities import (
    TOOLS_PER_ENTITY,
    EntityState,
    EntityTable,
    RepeatTracker,
    SeenTools,
)
from palaryn_proxy.anomaly.hours import OffHoursClock
from palaryn_proxy.anomaly.stats import ErrorRate, Grid, RollingRate, RollingValue

T = AnomalyType
MAX_BASELINE_ERROR_RATE = 0.10  # error_rate_spike only watches actors that mostly succeed
OFF_HOURS_REPEAT_SECONDS = 3600.0
CAPABILITY_RANK = {"read": 0, "write": 1, "delete": 2, "admin": 3}
_CAPABILITY_NAME = {rank: name for name, rank in CAPABILITY_RANK.items()}
_ESCALATION_SEVERITY = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH}
_BYTES_OFFSET = 1.0  # sizes and latencies are compared on a log scale: log(x + offset)
_LATENCY_OFFSET = 0.001
# Attribution: a workspace's or tool's request-rate spike is blamed on the actor that sent at least this
# share of the spiking bucket's requests; a payload-size alert on the flow's actor; a tool's latency spike
# and a spike no single actor explains stay the entity's own.
BLAME_SHARE = 0.5


class _Call:
    """One request's or response's time coordinates and the alerts raised so far."""

    __slots__ = ("now", "bucket", "slot", "alerts", "actor")

    def __init__(self, now: float, grid: Grid, actor: str) -> None:
        self.now = now
        self.actor = actor
        self.bucket = grid.bucket(now)
        self.slot = grid.slot(now)
        self.alerts: list[Alert] = []


class AnomalyDetector:
    """Per-process detector; not thread-safe (mitmproxy runs its hooks on one event loop)."""

    def __init__(self, config: AnomalyConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._grid = Grid(config.bucket_seconds, config.window_seconds)
        self._table = EntityTable(config.max_entities)
        self._tools = SeenTools(config.max_entities * TOOLS_PER_ENTITY)
        self._repeats = RepeatTracker(
            config.max_entities, config.repeat_threshold, config.repeat_window_seconds
        )
        self._hours = OffHoursClock(config.working_hours) if config.working_hours is not None else None
        self._history: deque[Alert] = deque(maxlen=config.max_alerts)
        self._on = frozenset(t for t in AnomalyType if config.action(t) is not Action.OFF)
        self._per = "_per_minute" if config.bucket_seconds == 60 else f"_per_{config.bucket_seconds}s"

    # ---- public API ------------------------------------------------------------------------------

    def before_request(
        self,
        *,
        actor: str,
        workspace: str | None = None,
        tool: str | None = None,
        capability: str = "read",
        method: str = "GET",
        url: str = "",
        body_hash: str | int | None = None,  # any in-process fingerprint of the body (repeat detection)
        request_bytes: int = 0,
        now: float | None = None,
    ) -> list[Alert]:
        """Observe a request before it goes upstream and return the alerts it raises."""
        if not self.config.enabled:
            return []
        call = _Call(self._clock() if now is None else now, self._grid, actor)
        for kind, name, state in self._entities(actor, tool, workspace):
            if kind != "actor":
                state.share_of(call.bucket, actor)
            self._rate(call, state, T.REQUEST_RATE_SPIKE, kind, name, "requests", 1.0)
            if request_bytes > 0:
                self._size(call, state, kind, name, "request_bytes", request_bytes)
            if kind == "actor":
                self._actor_request(call, state, name, tool, capability, (method, url, body_hash))
        return call.alerts

    def _entities(
        self, actor: str, tool: str | None, workspace: str | None
    ) -> Iterator[tuple[str, str, EntityState]]:
        """(kind, name, state) of each tracked entity this flow belongs to."""
        for kind, name in zip(ENTITY_KINDS, (actor, tool, workspace), strict=True):
            if name and kind in self.config.entities:
                yield kind, name, self._table.get((kind, name))

    def after_response(
        self,
        *,
        actor: str,
        workspace: str | None = None,
        tool: str | None = None,
        status: int | None,
        latency_s: float | None = None,
        response_bytes: int = 0,
        tokens: int | None = None,
        cost_usd: Decimal | float | None = None,
        now: float | None = None,
    ) -> list[Alert]:
        """Observe an upstream response (status None: no response, e.g. a connection error or timeout)."""
        if not self.config.enabled:
            return []
        call = _Call(self._clock() if now is None else now, self._grid, actor)
        for kind, name, state in self._entities(actor, tool, workspace):
            if response_bytes > 0:
                self._size(call, state, kind, name, "response_bytes", response_bytes)
            if kind == "tool" and latency_s is not None and latency_s >= 0:
                self._latency(call, state, name, latency_s)
            if kind == "actor":
                self._errors(call, state, name, status is None or status >= 400)
                if tokens:
                    self._rate(call, state, T.TOKEN_RATE_SPIKE, kind, name, "tokens", float(tokens))
                if cost_usd:
                    self._rate(call, state, T.COST_SPIKE, kind, name, "cost", float(cost_usd))
        return call.alerts

    def recent_alerts(self, since: float | None = None, actor: str | None = None) -> list[Alert]:
        """First alerts (see Alert.first) from the bounded history, oldest first."""
        entity = None if actor is None else f"actor:{actor}"
        return [
            a
            for a in self._history
            if (since is None or a.ts >= since) and (entity is None or a.entity == entity)
        ]

    @property
    def entity_count(self) -> int:
        return len(self._table)

    @property
    def tracked_items(self) -> dict[str, int]:
        """Sizes of every bounded table (for metrics and memory checks)."""
        return {
            "entities": len(self._table),
            "tool_pairs": len(self._tools),
            "fingerprints": len(self._repeats),
            "alerts": len(self._history),
            "evictions": self._table.evictions,
        }

    def export_state(self) -> dict[str, Any]:
        """A JSON-able snapshot of every baseline, for the storage backend."""
        return snapshot.export_state(self._table, self._tools, self.config)

    def export_parts(self, size: int = 500) -> tuple[dict[str, Any], Iterator[list[dict[str, Any]]]]:
        """export_state() in parts, for a caller that yields to the event loop in between: the snapshot
        with no entities, and lists of at most `size` entities (each exported whole when its list is made)."""
        items = list(self._table.items())

        def entities() -> Iterator[list[dict[str, Any]]]:
            for start in range(0, len(items), size):
                yield [snapshot.export_entity(key, state) for key, state in items[start : start + size]]

        return snapshot.export_header(self._tools, self.config), entities()

    def restore_state(self, data: dict[str, Any]) -> int:
        """Merge a snapshot (this replica's after a restart, or a peer's) into the baselines; call it once
        at startup, before traffic. Returns the entities merged, 0 when the window or bucket size differs."""
        return snapshot.merge_state(self._table, self._tools, self._grid, self.config, data)

    # ---- detectors -------------------------------------------------------------------------------

    def _rate(
        self, call: _Call, state: EntityState, kind: AnomalyType, ekind: str, name: str, attr: str, q: float
    ) -> None:
        if kind not in self._on:
            return
        stat: RollingRate | None = getattr(state, attr)
        if stat is None:
            stat = RollingRate()
            setattr(state, attr, stat)
        stat.add(self._grid, call.bucket, call.slot, q)
        scored = stat.zscore(self.config.min_samples)
        if scored is not None and scored[0] > self.config.z_score_threshold:
            z, mean = scored
            metric = attr + self._per
            message = f"{ekind} {name}: {metric} {stat.cur:.4g} vs baseline {mean:.4g} (z={z:.1f})"
            self._emit(
                call, state, kind, f"{ekind}:{name}", severity_for_z(z), metric, stat.cur, message, mean, z
            )

    def _size(self, call: _Call, state: EntityState, ekind: str, name: str, attr: str, size: int) -> None:
        if T.UNUSUAL_PAYLOAD_SIZE not in self._on:
            return
        stat: RollingValue | None = getattr(state, attr)
        if stat is None:
            stat = RollingValue()
            setattr(state, attr, stat)
        y = math.log(size + _BYTES_OFFSET)
        if size >= self.config.min_payload_bytes:
            self._value_alert(call, state, T.UNUSUAL_PAYLOAD_SIZE, f"{ekind}:{name}", stat, attr, size, y)
        stat.add(call.slot, y)

    def _latency(self, call: _Call, state: EntityState, name: str, latency_s: float) -> None:
        if T.LATENCY_SPIKE not in self._on:
            return
        stat = state.latency
        if stat is None:
            stat = state.latency = RollingValue()
        y = math.log(latency_s + _LATENCY_OFFSET)
        self._value_alert(call, state, T.LATENCY_SPIKE, f"tool:{name}", stat, "latency_s", latency_s, y)
        stat.add(call.slot, y)

    def _value_alert(
        self, call: _Call, state: EntityState, kind: AnomalyType, entity: str, stat: RollingValue,
        metric: str, value: float, y: float,
    ) -> None:  # fmt: skip
        scored = stat.zscore(call.slot, y, self.config.min_samples)
        if scored is None or scored[0] <= self.config.z_score_threshold:
            return
        z, log_mean = scored
        offset = _LATENCY_OFFSET if kind is T.LATENCY_SPIKE else _BYTES_OFFSET
        typical = math.exp(log_mean) - offset  # the window's geometric mean, on the metric's own scale
        message = f"{entity}: {metric} {value:.4g} vs typical {typical:.4g} (z={z:.1f})"
        self._emit(call, state, kind, entity, severity_for_z(z), metric, float(value), message, typical, z)

    def _errors(self, call: _Call, state: EntityState, name: str, error: bool) -> None:
        if T.ERROR_RATE_SPIKE not in self._on:
            return
        stat = state.errors
        if stat is None:
            stat = state.errors = ErrorRate()
        stat.add(call.slot, error)
        if not error:
            return
        scored = stat.zscore(self.config.min_samples, MAX_BASELINE_ERROR_RATE)
        if scored is not None and scored[0] > self.config.z_score_threshold:
            z, rate, base = scored
            message = (
                f"actor {name}: {rate:.0%} of recent responses failed vs baseline {base:.1%} (z={z:.1f})"
            )
            self._emit(call, state, T.ERROR_RATE_SPIKE, f"actor:{name}", severity_for_z(z), "error_rate", rate,
                       message, base, z)  # fmt: skip

    def _actor_request(
        self, call: _Call, state: EntityState, name: str, tool: str | None, capability: str,
        fingerprint: tuple[str, str, str | int | None],
    ) -> None:  # fmt: skip
        on = self._on
        entity = f"actor:{name}"
        if tool and T.NEW_TOOL_USAGE in on and self._tools.remember(name, tool):
            if state.has_tools:
                message = f"actor {name}: first use of tool {tool}"
                self._emit(
                    call, state, T.NEW_TOOL_USAGE, entity, Severity.LOW, "tool", 1.0, message, dedupe=False
                )
            state.has_tools = True
        if T.CAPABILITY_ESCALATION in on:
            self._capability(call, state, entity, capability)
        if self._hours is not None and T.OFF_HOURS_ACTIVITY in on and self._hours.is_off(call.now):
            last = state.off_hours_at
            if last is None or call.now - last >= OFF_HOURS_REPEAT_SECONDS:
                state.off_hours_at = call.now
                message = f"actor {name}: activity outside working hours"
                self._emit(call, state, T.OFF_HOURS_ACTIVITY, entity, Severity.LOW, "off_hours", 1.0, message,
                           dedupe=False)  # fmt: skip
        if T.REPEATED_REQUEST in on:
            count = self._repeats.hit(hash((name, *fingerprint)), call.now)
            if count >= self.config.repeat_threshold:
                message = (f"actor {name}: the same {fingerprint[0]} request {count} times within "
                           f"{self.config.repeat_window_seconds:g} s")  # fmt: skip
                self._emit(
                    call, state, T.REPEATED_REQUEST, entity, Severity.MEDIUM, "repeat_count", count, message
                )

    def _capability(self, call: _Call, state: EntityState, entity: str, capability: str) -> None:
        rank = CAPABILITY_RANK.get(capability, 0)
        previous = state.max_capability
        if rank <= previous:
            return
        state.max_capability = rank
        if previous >= 0:
            message = f"{entity}: first {capability} request (highest before: {_CAPABILITY_NAME[previous]})"
            self._emit(call, state, T.CAPABILITY_ESCALATION, entity, _ESCALATION_SEVERITY[rank], "capability_rank",
                       rank, message, previous, dedupe=False)  # fmt: skip

    def _emit(
        self, call: _Call, state: EntityState, kind: AnomalyType, entity: str, severity: Severity, metric: str,
        value: float, message: str, mean: float | None = None, z: float | None = None, dedupe: bool = True,
    ) -> None:  # fmt: skip
        first = state.first_alert_in(kind, call.bucket) if dedupe else True
        alert = Alert(kind, severity, entity, metric, float(value), None if mean is None else float(mean), z,
                      self.config.action(kind), message, call.now, first, _blame(call, state, kind, entity))  # fmt: skip
        call.alerts.append(alert)
        if first:
            self._history.append(alert)


def _blame(call: _Call, state: EntityState, kind: AnomalyType, entity: str) -> str | None:
    """The actor a workspace- or tool-level alert is attributed to (see BLAME_SHARE), or None."""
    if entity.startswith("actor:"):
        return None
    if kind is T.UNUSUAL_PAYLOAD_SIZE:
        return call.actor  # this flow's own payload
    if kind is T.REQUEST_RATE_SPIKE and state.shares is not None:
        return state.shares.culprit(BLAME_SHARE)
    return None
