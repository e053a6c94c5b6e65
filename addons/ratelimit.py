"""Rate-limit stage: requests and LLM tokens per minute per scope; 429 with Retry-After when over."""

from __future__ import annotations

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, guarded, refuse, state_of, storage_failed
from palaryn_proxy.addons.usage import LLM_REQUEST
from palaryn_proxy.errors import StorageError
from palaryn_proxy.llm import LlmAccountant
from palaryn_proxy.ratelimit import RateLimitRefusal, RateLimitTicket
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, Verdict

TICKET = "rate_limit_ticket"


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
        req = state.extra.get(LLM_REQUEST)
        tokens = self.accountant.estimated_tokens(req) if req is not None else None
        try:
            result = await limiter.check(state.identity, state.host, tokens=tokens)
        except StorageError as exc:
            storage_failed(self.runtime, flow, "ratelimit", "rate-limit", exc)
            return
        if isinstance(result, RateLimitRefusal):
            self.runtime.metrics.rate_limited.labels(result.rule).inc()
            verdict = Verdict(
                Decision.RATE_LIMITED, result.reason(), status=429, retry_after=result.retry_after_seconds
            )
            refuse(flow, verdict, "rate_limited")
            return
        state.extra[TICKET] = result

    @guarded("ratelimit")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    @guarded("ratelimit")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._correct(flow)

    async def _correct(self, flow: http.HTTPFlow) -> None:
        """Replace the estimated tokens charged at admission by what the call actually used."""
        state = state_of(flow)
        ticket: RateLimitTicket | None = state.extra.pop(TICKET, None) if state is not None else None
        if ticket is None or self.runtime.rate_limits is None or state is None:
            return
        actual = state.usage.total_tokens if state.usage is not None else 0
        try:
            await self.runtime.rate_limits.settle(ticket, actual)
        except StorageError:
            self.runtime.metrics.storage_errors.labels("ratelimit").inc()
