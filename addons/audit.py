"""Audit stage: stamps X-Palaryn-Request-Id, then writes exactly one audit record per flow and counts it.

With `audit.durability: acknowledged` the hooks that end a flow wait until its record is written: mitmproxy
sends a response (or the end of a streamed one), its error answer and a CONNECT refusal only once they return.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import http

from palaryn_proxy import clienterrors
from palaryn_proxy.addons._flow import elapsed, refuse, state_of
from palaryn_proxy.audit import Ack
from palaryn_proxy.clienterrors import ClientError
from palaryn_proxy.errors import AuditError
from palaryn_proxy.refusals import CLIENT_FAILURE, REQUEST_ID_HEADER, UPSTREAM_FAILURE
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, FlowState, Reason, Verdict

log = logging.getLogger("palaryn")
ACK_TIMEOUT_SECONDS = 10.0  # a record not written by then counts as failed (a stalled disk fails flows)


class AuditStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.live: dict[str, tuple[http.HTTPFlow, FlowState]] = {}
        self.stalled = False  # an acknowledgement timed out (logged once until one comes in time again)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None:
            self.live[state.request_id] = (flow, state)
            if self.runtime.telemetry is not None:  # the agent's trace continues in the flow's span
                headers = flow.request.headers
                self.runtime.telemetry.begin(
                    state.request_id, headers.get("traceparent"), headers.get("tracestate")
                )

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.request.raw_content is not None:
            state.request_bytes = len(flow.request.raw_content)

    async def http_connect(self, flow: http.HTTPFlow) -> None:
        # A CONNECT refused by an earlier stage (407) ends here; accepted tunnels are audited per request.
        state = state_of(flow)
        if state is not None and flow.response is not None:
            state.status = flow.response.status_code
            await self._acknowledged(self._finish(state))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.response is not None:
            flow.response.headers[REQUEST_ID_HEADER] = state.request_id
            state.status = flow.response.status_code

    async def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response is None:
            return
        state.status = flow.response.status_code
        if not flow.response.stream and flow.response.raw_content is not None:
            state.response_bytes = len(flow.response.raw_content)
        ack = self._finish(state)
        if ack is not None and await self._acknowledged(ack):
            self._refuse_unrecorded(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None:
            return
        message = flow.error.msg if flow.error else "flow failed"
        client_error = clienterrors.classify(message)
        if client_error is not None:
            self._client_error(state, client_error)
            await self._acknowledged(self._finish(state))
            return
        timeout = state.upstream_timeout
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
            UPSTREAM_FAILURE.set((state.request_id, state.error_style, state.status))
        await self._acknowledged(self._finish(state))  # the answer is an error either way

    def _client_error(self, state: FlowState, error: ClientError) -> None:
        """A request the client got wrong (malformed, too slow, a non-HTTP scheme): the client's error,
        answered 400 / 408 by the error page (palaryn_proxy/serve/server.py), never counted as the upstream's."""
        state.refuse(error.verdict)
        state.status = error.status
        # mitmproxy writes the error answer right after this hook, in this task: tell it who this is.
        CLIENT_FAILURE.set((state.request_id, state.error_style, error))

    async def _acknowledged(self, ack: Ack | None) -> bool:
        """Wait for the record to be written; True when it was not and the flow must fail (fail closed)."""
        if ack is None:
            return False
        try:
            async with asyncio.timeout(ACK_TIMEOUT_SECONDS):
                failure = await ack
        except TimeoutError:
            failure = AuditError(f"the audit record was not written within {ACK_TIMEOUT_SECONDS:g}s")
            if not self.stalled:
                log.error("audit log: %s; failing flows until records are written in time", failure)
            self.stalled = True
        if failure is None:
            self.stalled = False
            return False
        self.runtime.metrics.stage_errors.labels("audit").inc()
        return not self.runtime.config.stage_fails_open("audit")

    def _refuse_unrecorded(self, flow: http.HTTPFlow) -> None:
        """No record, no response: a buffered answer becomes a 503, a streamed one is cut before its end."""
        assert flow.response is not None
        if flow.response.stream:
            if flow.killable:
                flow.kill()
            return
        reason = Reason("audit", "audit_unavailable", "the audit log could not be written")
        refuse(flow, Verdict(Decision.ERROR, reason, status=503), "audit_unavailable")

    def _finish(self, state: FlowState) -> Ack | None:
        if state.audited:
            return None
        state.audited = True
        self.live.pop(state.request_id, None)
        ack = self.runtime.finish(state, elapsed(state))
        state.release()
        return ack

    def in_flight(self) -> int:
        return len(self.live)

    def done(self) -> None:
        """Proxy shutdown: flows that never ended still get their record."""
        for _flow, state in list(self.live.values()):
            state.reasons.append(Reason("proxy", "shutdown", "the proxy shut down before the flow ended"))
            if state.blocked_by is None:
                state.decision = Decision.ERROR
            self._finish(state)
