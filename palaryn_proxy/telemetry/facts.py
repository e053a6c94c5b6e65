"""What the exporter takes of a finished flow's state: the record plus request model, TTFT, finish reasons."""

from __future__ import annotations

from typing import Any

from palaryn_proxy.telemetry.attributes import FlowFacts, finish_reasons
from palaryn_proxy.types import FlowState


def flow_facts(
    state: FlowState, record: dict[str, Any], duration_s: float, parent: tuple[str, str | None] | None
) -> FlowFacts:
    """Read before the state is released (Runtime.finish); `parent` is the request's (traceparent, tracestate)."""
    llm = state.llm
    request_model = llm.request.model if llm is not None and llm.request is not None else None
    tap = state.stream.tap if state.stream is not None else None
    ttft = tap.first_token_at - state.started if tap is not None and tap.first_token_at is not None else None
    body = state.response_body
    reasons = finish_reasons(body.data) if body is not None and not body.undecodable else ()
    return FlowFacts(
        record=record,
        duration_s=duration_s,
        request_model=request_model,
        ttft_s=ttft,
        finish_reasons=reasons if state.kind.value == "llm" else (),
        traceparent=parent[0] if parent else None,
        tracestate=parent[1] if parent else None,
    )
