"""Budget stage: reserve the worst case before an LLM call goes upstream, cut streams that would overspend,
settle the actual cost when the call ends (release it when nothing was billed).

The reservation and the call's rate-limit check are one engine call, `admit` (palaryn_proxy/budget/admission.py):
both storage calls in flight together, the rate limit answering first as when it ran on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from mitmproxy import http

from palaryn_proxy.addons._admission import apply
from palaryn_proxy.addons._flow import answered, guarded, state_of
from palaryn_proxy.budget import BudgetReservation, Charge, admit
from palaryn_proxy.errors import StorageError
from palaryn_proxy.providers.base import StreamParser
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Admission, Decision, FlowState, Reason, Verdict
from palaryn_proxy.usage import LlmAccountant
from palaryn_proxy.usage.stream import Cut, add_stream_guard

WARNING_HEADER = "X-Palaryn-Budget-Warning"


class BudgetStage:
    def __init__(self, runtime: Runtime, accountant: LlmAccountant):
        self.runtime = runtime
        self.accountant = accountant
        self.held: dict[str, BudgetReservation] = {}  # by request id, for release at shutdown

    @guarded("budget")
    async def request(self, flow: http.HTTPFlow) -> None:
        engine = self.runtime.budgets
        state = state_of(flow)
        if state is None:
            return
        req = state.llm.request if state.llm is not None else None
        rate_due = state.admission.rate_due if state.admission is not None else None
        limiter = self.runtime.rate_limits if rate_due is not None else None  # see addons/ratelimit.py
        fail_open = self.runtime.storage_config.fail_open
        if engine is None or req is None or answered(flow):
            if limiter is not None:  # the rate-limit stage left its check here: it still counts
                result = await admit(
                    limiter, None, state.identity, state.host, tokens=rate_due, fail_open=fail_open
                )
                apply(self.runtime, flow, state, result)
            return
        worst_usd, worst_tokens = self.accountant.worst_case_cost(req)
        if worst_usd is None:
            state.note(Reason("budget", "unpriced", "model has no known price: only token limits apply"))
        result = await admit(
            limiter,
            engine,
            state.identity,
            state.host,
            tokens=rate_due,
            worst_usd=worst_usd or Decimal(0),
            worst_tokens=worst_tokens,
            fail_open=fail_open,
        )
        reservation = apply(self.runtime, flow, state, result)  # the rate limit answers first
        if reservation is None:
            return
        if state.admission is None:
            state.admission = Admission()
        state.admission.reservation = reservation
        self.held[state.request_id] = reservation
        allowance = self.accountant.output_allowance(req, engine.remaining_usd(reservation))
        if allowance is not None:
            add_stream_guard(state, _stream_guard(state, allowance))

    @guarded("budget")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Budgets already past `warn_at` when this call was admitted: say so before any body is sent."""
        state = state_of(flow)
        admission = state.admission if state is not None else None
        reservation = admission.reservation if admission is not None else None
        if reservation is None or flow.response is None or self.runtime.budgets is None:
            return
        warnings = self.runtime.budgets.above_warn_at(reservation)
        if warnings:
            flow.response.headers[WARNING_HEADER] = "; ".join(c.describe() for c in warnings)

    @guarded("budget")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._finish(flow)

    @guarded("budget")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._finish(flow)

    async def _finish(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        reservation = None
        if state is not None and state.admission is not None:
            reservation, state.admission.reservation = state.admission.reservation, None
        engine = self.runtime.budgets
        if reservation is None or engine is None or state is None:
            return
        self.held.pop(state.request_id, None)
        try:
            if state.usage is None and state.cost_usd is None:
                await engine.release(reservation)  # nothing generated, nothing billed
                return
            settled = await engine.settle(
                reservation, state.cost_usd or Decimal(0), state.usage.total_tokens if state.usage else 0
            )
        except StorageError as exc:
            self.runtime.metrics.storage_errors.labels("budget").inc()
            state.note(Reason("budget", "settle_failed", f"budget storage unreachable at settle: {exc}"))
            return
        if state.cost_usd is not None:
            state.cost_usd = settled.cost_usd  # exactly what was stored: audit costs sum to stored spend
        for charge in settled.charges:
            self._gauge(charge)
        for charge in settled.warnings:
            state.note(Reason("budget", f"warn_at:{charge.budget.name}", charge.describe()))
        if flow.response is not None and not flow.response.stream and settled.warnings:
            flow.response.headers[WARNING_HEADER] = "; ".join(c.describe() for c in settled.warnings)
        cut = state.stream.budget_cut if state.stream is not None else None
        if cut is not None:
            state.refuse(Verdict(Decision.BUDGET_EXCEEDED, Reason("budget", cut[0], cut[1])))

    async def done(self) -> None:
        """Proxy shutdown: release what flows that never finished still hold."""
        if self.runtime.budgets is None:
            return
        for reservation in list(self.held.values()):
            try:
                await self.runtime.budgets.release(reservation)
            except StorageError:
                break  # the store is gone; the holds expire after budget_reservation_ttl_seconds
        self.held.clear()

    def _gauge(self, charge: Charge) -> None:
        self.runtime.metrics.budget_spent.labels(charge.budget.name).set(float(charge.spent_usd))
        remaining = charge.remaining_usd
        if remaining is not None:
            self.runtime.metrics.budget_remaining.labels(charge.budget.name).set(float(remaining))


def _stream_guard(state: FlowState, max_output_tokens: int) -> Callable[[StreamParser], Cut | None]:
    """Cut a stream once its output passes what the tightest budget still admits for this call."""

    def guard(parser: StreamParser) -> Cut | None:
        if parser.output_tokens_so_far <= max_output_tokens:
            return None
        message = f"budget exhausted mid-stream after {parser.output_tokens_so_far} output tokens"
        if state.stream is not None:
            state.stream.budget_cut = ("mid_stream", message)
        return Cut(message, "budget_exceeded")

    return guard
