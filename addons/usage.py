"""Usage stage: parse LLM requests, stream every streaming response through a tap, account usage and cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import PROXY_ANSWERED, guarded, state_of
from palaryn_proxy.llm import THREAD_ESTIMATE_CHARS, LlmAccountant, estimate_usage, estimation_size
from palaryn_proxy.providers.base import LLMRequest, StreamParser, content_shape
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.providers.openai import add_stream_usage_option
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import FlowState

LLM_REQUEST = "llm_request"
TAP = "stream_tap"
STREAM_GUARD = "stream_guard"  # optional callable(parser) -> (message, code) | None, set by later stages


class StreamTap:
    """mitmproxy's stream callable: forwards every chunk unchanged while a parser reads the decoded bytes.

    A stage may end the stream early through `state.extra[STREAM_GUARD]`: the tap then forwards up to the
    next event boundary, drops the rest, and appends an error event in the provider's stream format.
    """

    def __init__(self, state: FlowState, parser: StreamParser | None, decoder: ContentDecoder | None):
        self.state, self.parser, self.decoder = state, parser, decoder
        self.first_token_at: float | None = None
        self.cut: tuple[str, str] | None = None
        self.dropping = False

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if not chunk:  # end of stream
            if self.cut is not None and self.parser is not None:
                return [self.parser.error_event(*self.cut)]
            return chunk
        self.state.response_bytes += len(chunk)
        if self.parser is not None:
            self._feed(chunk)
        if self.dropping:
            return []
        if self.cut is not None and self.parser is not None and self.parser.at_boundary:
            self.dropping = True  # forward this chunk (it ends an event), drop everything after it
        return chunk

    def _feed(self, chunk: bytes) -> None:
        assert self.parser is not None
        data = self.decoder.decode(chunk) if self.decoder is not None else chunk
        if data:
            self.parser.feed(data)
        if self.first_token_at is None and self.parser.first_token_seen:
            self.first_token_at = time.monotonic()
        guard: Callable[[StreamParser], tuple[str, str] | None] | None = self.state.extra.get(STREAM_GUARD)
        if guard is not None and self.cut is None:
            self.cut = guard(self.parser)


class UsageStage:
    def __init__(self, runtime: Runtime, accountant: LlmAccountant):
        self.runtime = runtime
        self.accountant = accountant

    @guarded("usage")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        adapter = state.extra.get("adapter") if state is not None else None
        if state is None or adapter is None or flow.response is not None:
            return
        req_ = flow.request
        body = req_.get_content(strict=False) or b""
        query = {k: v for k, v in req_.query.items()}
        parsed = adapter.parse_request(req_.method, req_.path.split("?", 1)[0], query, req_.headers, body)
        if parsed is None:
            return
        state.extra[LLM_REQUEST] = parsed
        state.extra["api"] = parsed.api
        state.extra["error_style"] = adapter.style_for(parsed)
        state.tool = parsed.api
        state.model = parsed.model
        if self.accountant.force_stream_usage:
            forced = add_stream_usage_option(parsed, body)
            if forced is not None:
                req_.content = forced

    @guarded("usage")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream every streaming shape (never buffer first); LLM streams also get a usage parser."""
        state = state_of(flow)
        resp = flow.response
        if state is None or resp is None or state.extra.get(PROXY_ANSWERED):
            return
        ctype = resp.headers.get("content-type", "")
        req: LLMRequest | None = state.extra.get(LLM_REQUEST)
        parser = None
        if req is not None and resp.status_code < 400:
            parser = state.extra["adapter"].stream_parser(req, ctype)
        if parser is None and content_shape(ctype) is None:
            return
        encoding = resp.headers.get("content-encoding", "")
        decoder = ContentDecoder(encoding) if parser is not None else None
        tap = StreamTap(state, parser, decoder)
        state.extra[TAP] = tap
        resp.stream = tap

    @guarded("usage")
    async def response(self, flow: http.HTTPFlow) -> None:
        await self._settle(flow)

    @guarded("usage")
    async def error(self, flow: http.HTTPFlow) -> None:
        await self._settle(flow)  # client aborted or upstream broke mid-stream: account what was generated

    async def _settle(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        req: LLMRequest | None = state.extra.get(LLM_REQUEST) if state is not None else None
        if (
            state is None
            or req is None
            or state.extra.get("usage_settled")
            or state.extra.get(PROXY_ANSWERED)
        ):
            return
        state.extra["usage_settled"] = True
        if flow.response is not None:
            state.status = flow.response.status_code
        tap: StreamTap | None = state.extra.get(TAP)
        if tap is not None and tap.parser is not None:
            result = tap.parser.finish()
            if tap.decoder is not None and tap.decoder.problem:
                result.problem = "; ".join(p for p in (result.problem, tap.decoder.problem) if p)
            if tap.first_token_at is not None:
                self.runtime.metrics.llm_ttft.labels(req.provider).observe(tap.first_token_at - state.started)
        elif flow.response is not None and not flow.response.stream:
            resp = flow.response
            body = resp.get_content(strict=False) or b""
            result = state.extra["adapter"].parse_response(
                req, resp.status_code, resp.headers.get("content-type", ""), body
            )
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
