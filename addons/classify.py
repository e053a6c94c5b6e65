"""Classify stage: llm (provider registry), mcp (JSON-RPC 2.0 body) or http; capability and tool."""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._flow import decoded, guarded, header, state_of
from palaryn_proxy.classify import classify
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Kind, LlmCall


class ClassifyStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @guarded("classify")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """LLM-ness depends only on host and path, so it is known before any stage may refuse the flow."""
        state = state_of(flow)
        registry = self.runtime.registry
        if state is None or registry is None:
            return
        req = flow.request
        adapter = registry.resolve(state.host, req.port, req.path.split("?", 1)[0])
        if adapter is not None:
            state.kind, state.tool, state.provider = Kind.LLM, "llm", adapter.id
            state.llm = LlmCall(adapter, adapter.error_style)

    @guarded("classify")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.kind is Kind.LLM:
            return
        body = decoded(flow.request, state, self.runtime.config.decoded_cap) or None
        state.kind, state.tool = classify(False, body, header(flow.request, b"content-type"))
