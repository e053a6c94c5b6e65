"""Rate-limit stage: requests and LLM tokens per minute per scope; 429 with Retry-After when over.

An LLM call that also has a budget is admitted by the budget stage instead, rate check and reservation in one
engine call (palaryn_proxy/budget/admission.py); this stage leaves it the token estimate in `rate_due`.
"""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._admission import apply
from palaryn_proxy.addons._flow import answered, guarded, state_of
from palaryn_proxy.budget import admit
from palaryn_proxy.errors import StorageError
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Admission
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
        if req is not None and self.runtime.budgets is not None:
            state.admission = Admission(rate_due=tokens)  # checked with the reservation (addons/budget.py)
            return
        fail_open = self.runtime.storage_config.fail_open
        result = await admit(limiter, None, state.identity, state.host, tokens=tokens, fail_open=fail_open)
        apply(self.runtime, flow, state, result)

    @guarded("ratelimit")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    @guarded("ratelimit")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    async def _correct(self, flow: http.HTTPFlow) -> None:
        """Replace the estimated tokens charged at admission by what the call actually used."""
        state = state_of(flow)
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
