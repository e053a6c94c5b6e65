"""Rate-limit stage: requests and LLM tokens per minute per scope; 429 with Retry-After when over.

For an LLM call that also has a budget, the check is not awaited here: it is in flight while the budget stage
makes its reservation (on Redis the two share one round trip's wait), and the budget stage settles it first,
through `decide_pending`, before it looks at its own answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, guarded, refuse, state_of, storage_failed
from palaryn_proxy.errors import StorageError
from palaryn_proxy.ratelimit import RateLimitRefusal, RateLimitTicket
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Admission, Decision, FlowState, Verdict
from palaryn_proxy.usage import LlmAccountant


class RateLimitStage:
    def __init__(self, runtime: Runtime, accountant: LlmAccountant):
        self.runtime = runtime
        self.accountant = accountant

    @guarded("ratelimit")
    async def request(self, flow: http.HTTPFlow) -> None:
        limiter = self.runtime.rate_limits
        state = state_of(flow)
        if limiter is None or state is None or answered(flow):
            return
        req = state.llm.request if state.llm is not None else None
        tokens = self.accountant.estimated_tokens(req) if req is not None else None
        check = limiter.check(state.identity, state.host, tokens=tokens)
        if req is not None and self.runtime.budgets is not None:
            state.admission = Admission(rate_check=asyncio.ensure_future(check))
            return
        await self._decide(flow, state, check)

    @guarded("ratelimit")
    async def decide_pending(self, flow: http.HTTPFlow) -> None:
        """Settle a check left in flight by `request` (the budget stage calls this; a no-op without one)."""
        state = state_of(flow)
        pending = _take_check(state)
        if state is not None and pending is not None:
            await self._decide(flow, state, pending)

    async def _decide(self, flow: http.HTTPFlow, state: FlowState, check: Any) -> None:
        try:
            result = await check
        except StorageError as exc:
            storage_failed(self.runtime, flow, "ratelimit", "rate-limit", exc)
            return
        if isinstance(result, RateLimitRefusal):
            if answered(flow):
                return  # refused meanwhile by a later stage (anomaly): that answer stands
            self.runtime.metrics.rate_limited.labels(result.rule).inc()
            verdict = Verdict(
                Decision.RATE_LIMITED, result.reason(), status=429, retry_after=result.retry_after_seconds
            )
            refuse(flow, verdict, "rate_limited")
            return
        if state.admission is None:
            state.admission = Admission()
        state.admission.rate_ticket = result

    @guarded("ratelimit")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    @guarded("ratelimit")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    async def _correct(self, flow: http.HTTPFlow) -> None:
        """Replace the estimated tokens charged at admission by what the call actually used."""
        state = state_of(flow)
        pending = _take_check(state)
        if pending is not None:  # never settled (the budget stage failed): take its ticket, if it got one
            try:
                result = await pending
            except StorageError:
                result = None
            if isinstance(result, RateLimitTicket) and state is not None and state.admission is not None:
                state.admission.rate_ticket = result
        if state is None or state.admission is None or self.runtime.rate_limits is None:
            return
        ticket, state.admission.rate_ticket = state.admission.rate_ticket, None
        if ticket is None:
            return
        actual = state.usage.total_tokens if state.usage is not None else 0
        try:
            await self.runtime.rate_limits.settle(ticket, actual)
        except StorageError:
            self.runtime.metrics.storage_errors.labels("ratelimit").inc()


def _take_check(state: FlowState | None) -> asyncio.Future[Any] | None:
    """The rate check left in flight for the budget stage, taken off the state (settled exactly once)."""
    if state is None or state.admission is None:
        return None
    check, state.admission.rate_check = state.admission.rate_check, None
    return check
