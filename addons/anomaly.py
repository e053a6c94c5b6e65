"""Anomaly stage: feed each upstream-bound request and its response into the detector; log, flag or block.

Alerts go to the audit record (`anomalies`), `palaryn_anomalies_total`, the reasons and the optional webhook.
`flag` adds X-Palaryn-Anomaly; `block` answers 429. A block raised by a response (token or cost spikes,
errors, latency) cannot take back that response: it refuses the entity's next requests for a while.
A workspace- or tool-level alert that one actor explains (detector.BLAME_SHARE) blocks that actor only:
its neighbours in the workspace, or other callers of the tool, keep going.
"""

from __future__ import annotations

import math
import time

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, elapsed, guarded, refuse, state_of
from palaryn_proxy.anomaly import (
    Action,
    Alert,
    AnomalyDetector,
    AnomalyStore,
    AnomalyType,
    BaselineKeeper,
    Webhook,
    replica_id,
)
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, FlowState, Kind, Reason, Verdict

HEADER = "X-Palaryn-Anomaly"
BLOCK_SECONDS = 60  # Retry-After (and hold) for types without a natural window
_RATE_TYPES = (AnomalyType.REQUEST_RATE_SPIKE, AnomalyType.TOKEN_RATE_SPIKE, AnomalyType.COST_SPIKE)


class AnomalyStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.config = runtime.config.sections.anomaly
        self.detector = AnomalyDetector(self.config)
        self.holds: dict[str, tuple[float, Alert]] = {}  # entity -> (blocked until, the alert), bounded
        self.keeper: BaselineKeeper | None = None
        if self.config.enabled and self.config.persist and runtime.storage is not None:
            store = AnomalyStore(runtime.storage, self.config, replica_id(runtime.config.listen))
            self.keeper = BaselineKeeper(
                store,
                self.config.persist_interval_seconds,
                lambda: runtime.metrics.storage_errors.labels("anomaly").inc(),
            )
        self.webhook: Webhook | None = None
        if self.config.enabled and self.config.webhook_url:
            self.webhook = Webhook(
                self.config.webhook_url,
                self.config.webhook_max_per_minute,
                lambda result: runtime.metrics.anomaly_webhook.labels(result).inc(),
            )

    # ---- lifecycle: baselines restored at start, saved periodically and at shutdown; the webhook sender

    async def running(self) -> None:
        if self.webhook is not None:
            self.webhook.start()
        if self.keeper is not None:
            self.detector = await self.keeper.restore(self.detector)
            self.keeper.start(lambda: self.detector)

    async def done(self) -> None:
        if self.keeper is not None:
            await self.keeper.stop()
        if self.webhook is not None:
            await self.webhook.stop()

    # ---- flows ------------------------------------------------------------------------------------

    @guarded("anomaly")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if not self.config.enabled or state is None or answered(flow):
            return
        now = time.time()
        tool = _tool(state)
        held = self._held(state, tool, now)
        body = flow.request.raw_content or b""
        alerts = self.detector.before_request(
            actor=state.identity.actor,
            workspace=state.identity.workspace,
            tool=tool,
            capability=state.capability.value,
            method=state.method,
            url=state.url,
            body_hash=hash(body) if body else None,  # sha256 would release the GIL: no need, never stored
            request_bytes=len(body),
            now=now,
        )
        blocks = [a for a in alerts if a.action is Action.BLOCK]
        for alert in blocks:
            if alert.attributed_to is not None:
                self._hold(alert, now)  # the blamed actor's next requests, whoever sent this one
        mine = [a for a in blocks if a.attributed_to in (None, state.identity.actor)]
        block = mine[0] if mine else held
        self._record(state, alerts, block)
        if block is None:
            return
        if block is held:
            state.anomalies.append({**block.to_dict(), "first": False})
        self._refuse(flow, block, now)

    @guarded("anomaly")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response is None:
            return
        if not state.answered_by_proxy:
            state.headers_at = elapsed(state)
            flow.response.headers.pop(HEADER, None)  # only the proxy names anomalies
        if state.anomaly_flags:
            flow.response.headers[HEADER] = ",".join(state.anomaly_flags)

    @guarded("anomaly")
    def response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        size = len(resp.raw_content) if resp is not None and not resp.stream and resp.raw_content else None
        self._observe(flow, resp.status_code if resp is not None else None, size)

    @guarded("anomaly")
    def error(self, flow: http.HTTPFlow) -> None:
        # No response: the upstream failed. A response that broke off (often the client leaving) keeps its status.
        self._observe(flow, flow.response.status_code if flow.response is not None else None, None)

    def _observe(self, flow: http.HTTPFlow, status: int | None, size: int | None) -> None:
        """Feed an upstream-served flow's outcome to the detector (flows the proxy answered are skipped)."""
        state = state_of(flow)
        if not self.config.enabled or state is None or state.answered_by_proxy:
            return
        now = time.time()
        alerts = self.detector.after_response(
            actor=state.identity.actor,
            workspace=state.identity.workspace,
            tool=_tool(state),
            status=status,
            latency_s=state.headers_at,
            response_bytes=state.response_bytes if size is None else size,
            tokens=state.usage.total_tokens if state.usage is not None else None,
            cost_usd=state.cost_usd,
            now=now,
        )
        self._record(state, alerts)
        for alert in alerts:
            if alert.action is Action.BLOCK:
                self._hold(alert, now)
        resp = flow.response
        if resp is not None and not resp.stream and state.anomaly_flags:
            resp.headers[HEADER] = ",".join(state.anomaly_flags)

    # ---- alerts -----------------------------------------------------------------------------------

    def _record(self, state: FlowState, alerts: list[Alert], refusing: Alert | None = None) -> None:
        """Audit entries, reasons (the refusing alert's comes with the refusal), flags, metrics, webhook."""
        for alert in alerts:
            entry = alert.to_dict()
            entry["first"] = alert.first
            state.anomalies.append(entry)
            if alert is not refusing:
                state.note(Reason("anomaly", str(alert.type), alert.message))
            if alert.action is Action.FLAG:
                if state.anomaly_flags is None:
                    state.anomaly_flags = []
                flags = state.anomaly_flags
                if str(alert.type) not in flags:
                    flags.append(str(alert.type))
            if alert.first:
                self.runtime.metrics.anomalies.labels(str(alert.type), str(alert.severity)).inc()
                if self.webhook is not None:
                    self.webhook.notify(_payload(state, entry))

    def _refuse(self, flow: http.HTTPFlow, alert: Alert, now: float) -> None:
        retry = self._retry_after(alert, now)
        message = f"anomaly {alert.type} ({alert.severity}): {alert.message}; retry in {retry} s"
        verdict = Verdict(
            Decision.RATE_LIMITED, Reason("anomaly", str(alert.type), message), status=429, retry_after=retry
        )
        refuse(flow, verdict, "anomaly_detected")

    def _retry_after(self, alert: Alert, now: float) -> int:
        held = self.holds.get(alert.target)
        if held is not None and held[1] is alert:
            return max(1, math.ceil(held[0] - now))
        if alert.type in _RATE_TYPES:
            bucket = self.config.bucket_seconds
            return max(1, math.ceil(bucket - now % bucket))  # the spike is measured per bucket
        if alert.type is AnomalyType.REPEATED_REQUEST:
            return max(1, math.ceil(self.config.repeat_window_seconds))
        return BLOCK_SECONDS

    def _hold(self, alert: Alert, now: float) -> None:
        """Refuse the alert's target (its entity, or the actor it is blamed on) until its window has passed."""
        holds = self.holds
        holds.pop(alert.target, None)
        holds[alert.target] = (now + self._retry_after(alert, now), alert)
        while len(holds) > self.config.max_entities:
            del holds[next(iter(holds))]

    def _held(self, state: FlowState, tool: str, now: float) -> Alert | None:
        if not self.holds:
            return None
        for entity in (
            f"actor:{state.identity.actor}",
            f"tool:{tool}",
            f"workspace:{state.identity.workspace}",
        ):
            held = self.holds.get(entity)
            if held is None:
                continue
            if held[0] > now:
                return held[1]
            del self.holds[entity]
        return None


def _tool(state: FlowState) -> str:
    """An MCP call's tool name; otherwise the host (LLM and HTTP `tool` labels are too coarse to baseline)."""
    if state.kind is Kind.MCP and state.tool:
        return state.tool
    return state.host


def _payload(state: FlowState, entry: dict[str, object]) -> dict[str, object]:
    return {
        "source": "palaryn-proxy",
        "request_id": state.request_id,
        "actor": state.identity.actor,
        "workspace": state.identity.workspace,
        "host": state.host,
        "alert": entry,
    }
