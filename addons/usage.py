"""Usage stage: parse LLM requests, stream every streaming response through a tap, account usage and cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import (
    PROXY_ANSWERED,
    body,
    content_encoding,
    decoded,
    guarded,
    header,
    replace_body,
    state_of,
)
from palaryn_proxy.providers.base import LLMRequest, StreamParser, content_shape
from palaryn_proxy.providers.decoding import ContentDecoder
from palaryn_proxy.providers.openai import add_stream_usage_option
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import FlowState
from palaryn_proxy.usage import THREAD_ESTIMATE_CHARS, LlmAccountant, estimate_usage, estimation_size

LLM_REQUEST = "llm_request"
TAP = "stream_tap"
STREAM_GUARDS = "stream_guards"  # callables(parser) -> Cut | None that later stages append


@dataclass(frozen=True, slots=True)
class Cut:
    """Why a stream is ended early. `before_chunk`: drop the chunk that tripped the guard, if possible."""

    message: str
    code: str
    before_chunk: bool = False


Guard = Callable[[StreamParser], Cut | None]


def add_stream_guard(state: FlowState, guard: Guard) -> None:
    state.extra.setdefault(STREAM_GUARDS, []).append(guard)


_EVENT_END = {"sse": (b"\n\n", b"\r\n\r\n"), "ndjson": (b"\n",)}


def last_event_end(data: bytes, shape: str) -> int:
    """Offset just past the last complete event in `data` (0 if none) for line-framed shapes."""
    return max((i + len(sep) for sep in _EVENT_END[shape] if (i := data.rfind(sep)) >= 0), default=0)


def split_events(data: bytes, shape: str) -> list[bytes]:
    """Complete events of `data`, each with its terminator (the caller keeps the incomplete rest)."""
    events, start = [], 0
    primary = _EVENT_END[shape][0]
    while (i := data.find(primary, start)) >= 0:
        events.append(data[start : i + len(primary)])
        start = i + len(primary)
    return events


def one_chunk(pieces: list[bytes]) -> bytes | list[bytes]:
    """Pieces joined for one write; [] when there is nothing: mitmproxy would send an empty chunk, which
    chunked HTTP/1 encodes as the end of the body."""
    joined = b"".join(pieces)
    return joined if joined else []


class StreamTap:
    """mitmproxy's stream callable: forwards every chunk while a parser reads the decoded bytes.

    Without guards, chunks pass through untouched as they arrive. When a stage may end the stream early
    (`add_stream_guard`), an identity-encoded SSE or NDJSON stream is forwarded event by event: bytes of an
    incomplete event wait until it completes, and the guards judge each event before it is sent. A tripped
    guard therefore cuts cleanly: the client's bytes end on an event boundary, the event that tripped it (a
    denied tool call) can be withheld, and an error event in the provider's stream format ends the stream.
    Other shapes (compressed, binary eventstream, JSON arrays) are judged per network chunk.
    """

    def __init__(
        self,
        state: FlowState,
        parser: StreamParser | None,
        decoder: ContentDecoder | None,
        splittable: bool = False,
    ):
        self.state, self.parser, self.decoder = state, parser, decoder
        self.splittable = splittable and parser is not None and parser.shape in _EVENT_END
        self.first_token_at: float | None = None
        self.cut: Cut | None = None
        self.dropping = False
        self.pending = b""

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if not chunk:
            return self._end()
        self.state.response_bytes += len(chunk)
        if self.parser is None:
            return chunk
        guards: list[Guard] | None = self.state.extra.get(STREAM_GUARDS)  # stages may add guards late
        if self.dropping:
            self._feed(chunk)  # keep counting what the upstream bills
            return []
        if not guards:
            if self.pending:  # guards went away (cannot happen today): release what was waiting
                chunk, self.pending = self.pending + chunk, b""
            self._feed(chunk)
            return chunk
        if not self.splittable:
            self._feed(chunk)
            return self._judge(guards, [chunk])
        data = self.pending + chunk
        end = last_event_end(data, self.parser.shape)
        self.pending = data[end:]
        return self._judge(guards, split_events(data[:end], self.parser.shape), feed=True)

    def _judge(self, guards: list[Guard], pieces: list[bytes], feed: bool = False) -> bytes | list[bytes]:
        """The pieces the guards let through, as one chunk (one write to the client, not one per event)."""
        assert self.parser is not None
        out: list[bytes] = []
        for piece in pieces:
            if feed:
                self._feed(piece)
            self.cut = next((c for c in (g(self.parser) for g in guards) if c is not None), None)
            if self.cut is not None:
                self.dropping = True
                if not self.cut.before_chunk and (self.splittable or self.parser.at_boundary):
                    out.append(piece)
                break
            out.append(piece)
        return one_chunk(out)

    def _end(self) -> bytes | list[bytes]:
        tail, self.pending = self.pending, b""
        if tail:
            self._feed(tail)
        if self.cut is not None and self.parser is not None:
            return [self.parser.error_event(self.cut.message, self.cut.code)]
        return [tail] if tail and not self.dropping else b""

    def _feed(self, chunk: bytes) -> None:
        assert self.parser is not None
        data = self.decoder.decode(chunk) if self.decoder is not None else chunk
        if data:
            self.parser.feed(data)
        if self.first_token_at is None and self.parser.first_token_seen:
            self.first_token_at = time.monotonic()


class UsageStage:
    def __init__(self, runtime: Runtime, accountant: LlmAccountant):
        self.runtime = runtime
        self.accountant = accountant

    @guarded("usage")
    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        cap = self.runtime.config.decoded_cap
        if state is None or flow.response is not None or parse_llm_request(flow, state, cap) is None:
            return
        parsed: LLMRequest = state.extra[LLM_REQUEST]
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
        if state is None or resp is None or state.extra.get(PROXY_ANSWERED):
            return
        ctype = header(resp, b"content-type")
        req: LLMRequest | None = state.extra.get(LLM_REQUEST)
        parser = None
        if req is not None and resp.status_code < 400:
            parser = state.extra["adapter"].stream_parser(req, ctype)
        if parser is None and content_shape(ctype) is None:
            return
        encoding = content_encoding(resp)
        decoder = ContentDecoder(encoding, self.runtime.config.decoded_cap) if parser is not None else None
        tap = StreamTap(state, parser, decoder, splittable=encoding.strip().lower() in ("", "identity"))
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
            data = decoded(resp, state, self.runtime.config.decoded_cap) or b""
            result = state.extra["adapter"].parse_response(
                req, resp.status_code, header(resp, b"content-type"), data
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


def parse_llm_request(flow: http.HTTPFlow, state: FlowState, cap: int) -> LLMRequest | None:
    """Parse (or, after a policy TRANSFORM rewrote the body, re-parse) the flow's LLM request; the body
    is decoded at most `cap` bytes far (max_decoded_bytes)."""
    adapter = state.extra.get("adapter")
    if adapter is None:
        return None
    req = flow.request
    data = decoded(req, state, cap) or b""
    parsed = adapter.parse_request(
        req.method, req.path.split("?", 1)[0], dict(req.query.items()), req.headers, data
    )
    if parsed is None:
        return None
    state.extra[LLM_REQUEST] = parsed
    state.extra["api"] = parsed.api
    state.extra["error_style"] = adapter.style_for(parsed)
    state.tool = parsed.api
    state.model = parsed.model
    return parsed
