"""LLM request parsing for the stages that need it (usage, and dlp / policy after they rewrite a body)."""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._flow import decoded
from palaryn_proxy.providers.base import LLMRequest
from palaryn_proxy.types import FlowState


def parse_llm_request(flow: http.HTTPFlow, state: FlowState, cap: int) -> LLMRequest | None:
    """Parse (or, after a policy TRANSFORM rewrote the body, re-parse) the flow's LLM request; the body
    is decoded at most `cap` bytes far (max_decoded_bytes)."""
    llm = state.llm
    if llm is None:
        return None
    req = flow.request
    data = decoded(req, state, cap) or b""
    parsed = llm.adapter.parse_request(
        req.method, req.path.split("?", 1)[0], dict(req.query.items()), req.headers, data
    )
    if parsed is None:
        return None
    llm.request, llm.api, llm.error_style = parsed, parsed.api, llm.adapter.style_for(parsed)
    state.tool = parsed.api
    state.model = parsed.model
    return parsed
