"""Usage stage: parse LLM requests, stream every streaming response through a tap, account usage and cost."""

from __future__ import annotations

import asyncio
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import (
    body,
    content_encoding,
    decoded,
    guarded,
    header,
    replace_body,
    state_of,
)
from palaryn_proxy.addons._llm import parse_llm_request
from palaryn_proxy.providers.base import LLMRequest, content_shape
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.providers.openai import add_stream_usage_option
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import StreamPlan
from palaryn_proxy.usage import THREAD_ESTIMATE_CHARS, LlmAccountant, estimate_usage, estimation_size
from palaryn_proxy.usage.stream import StreamTap


class UsageStage:
    def __init__(self, runtime: Runtime, accountant: LlmAccountant):
        self.runtime = runtime
        self.accountant = accountant

    @guarded("usage")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        cap = self.runtime.config.decoded_cap
        if state is None or flow.response is not None:
            return
        parsed = parse_llm_request(flow, state, cap)
        if parsed is None:
            return
        got = body(flow.request, state, cap)
        if self.accountant.force_stream_usage and not got.oversize:  # never rewrite from a prefix
            forced = add_stream_usage_option(parsed, got.data)
            if forced is not None:
                replace_body(flow.request, state, forced)

    @guarded("usage")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream every streaming shape (never buffer first); LLM streams also get a usage parser."""
        state = state_of(flow)
        resp = flow.response
        if state is not None:
            state.request_body = None  # the request stages are done: do not hold its decoded copy longer
        if state is None or resp is None or state.answered_by_proxy:
            return
        ctype = header(resp, b"content-type")
        llm = state.llm
        parser = None
        if llm is not None and llm.request is not None and resp.status_code < 400:
            parser = llm.adapter.stream_parser(llm.request, ctype)
        if parser is None and content_shape(ctype) is None:
            return
        encoding = content_encoding(resp)
        identity = encoding.strip().lower() in ("", "identity")
        decoder = None if identity else ContentDecoder(encoding, self.runtime.config.decoded_cap)
        tap = StreamTap(state, parser, decoder, splittable=identity)  # the DLP stage may add its scanner
        if state.stream is None:
            state.stream = StreamPlan()
        state.stream.tap = tap
        resp.stream = tap

    @guarded("usage")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._settle(flow)

    @guarded("usage")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._settle(flow)  # client aborted or upstream broke mid-stream: account what was generated

    async def _settle(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        llm = state.llm if state is not None else None
        if (
            state is None
            or llm is None
            or llm.request is None
            or llm.usage_settled
            or state.answered_by_proxy
        ):
            return
        req: LLMRequest = llm.request
        llm.usage_settled = True
        if flow.response is not None:
            state.status = flow.response.status_code
        tap = state.stream.tap if state.stream is not None else None
        if tap is not None and tap.parser is not None:
            result = tap.parser.finish()
            if tap.decoder is not None and tap.decoder.problem:
                result.problem = "; ".join(p for p in (result.problem, tap.decoder.problem) if p)
            if tap.first_token_at is not None:
                self.runtime.metrics.llm_ttft.labels(req.provider).observe(tap.first_token_at - state.started)
        elif flow.response is not None and not flow.response.stream:
            resp = flow.response
            data = decoded(resp, state, self.runtime.config.decoded_cap) or b""
            result = llm.adapter.parse_response(req, resp.status_code, header(resp, b"content-type"), data)
        else:
            return
        usage = result.usage
        if usage is None and self.accountant.needs_estimate(result):
            usage = await _estimate(req, result)
        self.accountant.settle(state, req, result, usage)


async def _estimate(req: LLMRequest, result: Any) -> Any:
    if estimation_size(req, result) > THREAD_ESTIMATE_CHARS:
        return await asyncio.to_thread(estimate_usage, req, result)
    return estimate_usage(req, result)
