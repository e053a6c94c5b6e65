"""Flow-guard stage: the lethal trifecta (private data in, untrusted content in, then data out to an untrusted
host) within `flow_guard.window_seconds`, per task else actor -> log, flag, hold for approval or 403."""

from __future__ import annotations

import hashlib
import logging

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, guarded, refuse, state_of
from palaryn_proxy.policy import Effect, PolicyResult
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.toolguard.flows import FlowGuardConfig, FlowMemory
from palaryn_proxy.types import Decision, FlowState, Reason, Verdict

log = logging.getLogger("palaryn")
STAGE = "flow_guard"
WARNING_HEADER = "X-Palaryn-Warning"
FLAG_KEY = "palaryn.flow_guard_flag"


def _key(state: FlowState) -> str:
    ident = state.identity
    return f"task:{ident.task}" if ident.task else f"actor:{ident.actor}"


class FlowGuardStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.config: FlowGuardConfig = runtime.config.sections.flow_guard
        self.memory = FlowMemory(self.config)

    @guarded(STAGE)
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if not self.config.enabled or state is None or answered(flow):
            return
        req = flow.request
        why = self.memory.exfiltration(
            _key(state), state.host, req.method, bool(req.raw_content), "?" in req.path
        )
        if why is None:
            return
        action = self.config.action
        reason = Reason(STAGE, "lethal_trifecta", why)
        log.warning("flow_guard (%s): %s", action, why)
        if action == "block":
            refuse(flow, Verdict(Decision.DENY, reason, status=403), "flow_guard")
        elif action == "require_approval":
            await self._hold(flow, state, reason)
        else:
            state.note(reason)
            if action == "flag":
                flow.metadata[FLAG_KEY] = True

    async def _hold(self, flow: http.HTTPFlow, state: FlowState, reason: Reason) -> None:
        """Held like a REQUIRE_APPROVAL policy decision (same approvals, CLI and console)."""
        policy = self.runtime.stages.get("policy")
        if policy is None:
            refuse(flow, Verdict(Decision.DENY, reason, status=403), "flow_guard")
            return
        result = PolicyResult(
            Effect.REQUIRE_APPROVAL, pack=STAGE, rule="lethal_trifecta", message=reason.message
        )
        body_hash = hashlib.sha256(flow.request.raw_content or b"").hexdigest()
        state.note(reason)
        await policy.hold(flow, state, result, body_hash)

    @guarded(STAGE)
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and flow.metadata.get(FLAG_KEY):
            flow.response.headers[WARNING_HEADER] = "flow_guard: lethal trifecta"

    @guarded(STAGE)
    def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if not self.config.enabled or state is None or state.answered_by_proxy or flow.response is None:
            return
        sensitive = any(f.get("direction") == "response" for f in state.dlp)
        injected = any(r.stage == "injection" or r.rule == "mcp_result_injection" for r in state.reasons)
        self.memory.received(_key(state), state.request_id, state.host, sensitive, injected)
