"""Blocklist stage: hosts matching `block_domains` get 403 before anything reaches upstream."""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, guarded, refuse, state_of
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, Reason, Verdict


class BlocklistStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @guarded("blocklist")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if answered(flow) or not self.runtime.block_domains:
            return
        state = state_of(flow)
        host = state.host if state is not None else flow.request.pretty_host
        rule = self.runtime.block_domains.match(host)
        if rule is None or state is None:
            return
        reason = Reason(
            "blocklist", f"block_domains:{rule}", f"requests to {host} are blocked by block_domains"
        )
        refuse(flow, Verdict(Decision.DENY, reason, status=403), "domain_blocked")
