"""Audit stage: stamps X-Palaryn-Request-Id, then writes exactly one audit record per flow and counts it."""

from __future__ import annotations

import logging

from mitmproxy import http

from palaryn_proxy.addons._flow import elapsed, state_of
from palaryn_proxy.refusals import REQUEST_ID_HEADER, UPSTREAM_FAILURE
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, FlowState, Reason

log = logging.getLogger("palaryn")
FINISHED = "audited"


class AuditStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.live: dict[str, tuple[http.HTTPFlow, FlowState]] = {}

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None:
            self.live[state.request_id] = (flow, state)

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.request.raw_content is not None:
            state.request_bytes = len(flow.request.raw_content)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        # A CONNECT refused by an earlier stage (407) ends here; accepted tunnels are audited per request.
        state = state_of(flow)
        if state is not None and flow.response is not None:
            state.status = flow.response.status_code
            self._finish(state)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.response is not None:
            flow.response.headers[REQUEST_ID_HEADER] = state.request_id
            state.status = flow.response.status_code

    def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response is None:
            return
        state.status = flow.response.status_code
        if not flow.response.stream and flow.response.raw_content is not None:
            state.response_bytes = len(flow.response.raw_content)
        self._finish(state)

    def error(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None:
            return
        message = flow.error.msg if flow.error else "flow failed"
        timeout = state.extra.get("upstream_timeout")
        if timeout is not None:
            rule, text = "timeout", f"upstream sent no response within {timeout:g}s"
        elif "client disconnected" in message.lower():
            rule, text = "client_disconnected", "the client went away before the response ended"
        else:
            rule, text = "upstream_failed", message
        stage = "client" if rule == "client_disconnected" else "upstream"
        if stage == "upstream":
            self.runtime.metrics.upstream_errors.labels(rule).inc()
        state.reasons.append(Reason(stage, rule, text))
        if state.blocked_by is None:
            state.decision = Decision.ERROR
            state.blocked_by = stage
        if state.status is None and stage == "upstream":
            state.status = 504 if rule == "timeout" else 502
            # mitmproxy writes the error answer right after this hook, in this task: tell it who this is.
            UPSTREAM_FAILURE.set((state.request_id, state.extra.get("error_style"), state.status))
        self._finish(state)

    def _finish(self, state: FlowState) -> None:
        if state.extra.get(FINISHED):
            return
        state.extra[FINISHED] = True
        self.live.pop(state.request_id, None)
        self.runtime.finish(state, elapsed(state))
        # The flow is over and recorded: what the stages kept for it goes now. mitmproxy keeps each finished
        # flow in a reference cycle until the collector runs; emptied, it holds no parsed body, prompt or
        # stream guard (closures over this state, a cycle of their own) meanwhile.
        state.extra.clear()
        state.extra[FINISHED] = True

    def in_flight(self) -> int:
        return len(self.live)

    def done(self) -> None:
        """Proxy shutdown: flows that never ended still get their record."""
        for _flow, state in list(self.live.values()):
            state.reasons.append(Reason("proxy", "shutdown", "the proxy shut down before the flow ended"))
            if state.blocked_by is None:
                state.decision = Decision.ERROR
            self._finish(state)
