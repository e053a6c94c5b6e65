"""Applying an admission (palaryn_proxy/budget/admission.py) to a flow: 429 with Retry-After for a rate limit,
402 for a budget, storage failures by `fail_mode`; shared by the rate-limit and budget stages."""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, refuse, storage_failed
from palaryn_proxy.budget import Admitted, BudgetReservation, Refused
from palaryn_proxy.errors import StorageError
from palaryn_proxy.ratelimit import RateLimitRefusal
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Admission, Decision, FlowState, Verdict

_WHAT = {"ratelimit": "rate-limit", "budget": "budget"}  # how storage_failed names each check's storage


def apply(
    runtime: Runtime, flow: http.HTTPFlow, state: FlowState, result: Admitted | Refused
) -> BudgetReservation | None:
    """Record the rate ticket, answer the flow if refused; the reservation of an admitted call, if any."""
    for unchecked in result.unchecked:
        storage_failed(runtime, flow, unchecked.check, _WHAT[unchecked.check], unchecked.error)
    if result.rate_ticket is not None:
        if state.admission is None:
            state.admission = Admission()
        state.admission.rate_ticket = result.rate_ticket
    if isinstance(result, Admitted):
        return result.reservation
    cause = result.cause
    if isinstance(cause, StorageError):
        storage_failed(runtime, flow, result.check, _WHAT[result.check], cause)
    elif answered(flow):
        pass  # refused meanwhile by a stage in between (anomaly): that answer stands
    elif isinstance(cause, RateLimitRefusal):
        runtime.metrics.rate_limited.labels(cause.rule).inc()
        verdict = Verdict(
            Decision.RATE_LIMITED, cause.reason(), status=429, retry_after=cause.retry_after_seconds
        )
        refuse(flow, verdict, "rate_limited")
    else:
        runtime.metrics.budget_refusals.labels(cause.budget).inc()
        refuse(flow, Verdict(Decision.BUDGET_EXCEEDED, cause.reason(), status=402), "budget_exceeded")
    return None
