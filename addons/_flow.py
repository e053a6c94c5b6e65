"""Helpers every stage shares: the flow's FlowState, its decoded bodies, refusing a flow, fail-closed hook guards."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast, overload

from mitmproxy import http

from palaryn_proxy import refusals
from palaryn_proxy.dlp.compression import decode_body
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, DecodedBody, FlowState, Reason, Verdict

log = logging.getLogger("palaryn")
STATE_KEY = "palaryn"
F = TypeVar("F", bound=Callable[..., Any])


def state_of(flow: Any) -> FlowState | None:
    return flow.metadata.get(STATE_KEY) if flow is not None else None


@overload
def header(message: http.Message, name: bytes) -> str: ...
@overload
def header[D](message: http.Message, name: bytes, default: D) -> str | D: ...
def header(message: http.Message, name: bytes, default: object = "") -> object:
    """A header's first value by its lower-case name. A scan of the raw fields: several times cheaper than
    `Headers.get`, which normalises the name and builds a list on every call; stages ask a dozen per flow."""
    for key, value in message.headers.fields:
        if key.lower() == name:
            return value.decode("utf-8", "surrogateescape")  # as mitmproxy's Headers decode values
    return default


def content_encoding(message: http.Message) -> str:
    """Every Content-Encoding field, joined: two `gzip` lines mean `gzip, gzip`."""
    return ", ".join(
        v.decode("latin-1") for k, v in message.headers.fields if k.lower() == b"content-encoding"
    )


def body(message: http.Message, state: FlowState | None, cap: int) -> DecodedBody:
    """The message's body with every Content-Encoding undone: decoded once per body (the stages share it
    through FlowState), leniently, and never past `cap` bytes while it inflates (then a prefix)."""
    raw = message.raw_content or b""
    encoding = content_encoding(message) if raw else ""
    request = isinstance(message, http.Request)
    cached = (state.request_body if request else state.response_body) if state is not None else None
    if cached is not None and cached.raw is raw and cached.encoding == encoding:
        return cached
    got = decode_body(raw, encoding, cap)
    if state is not None:
        _remember(state, request, got)
    return got


def decoded(message: http.Message, state: FlowState | None, cap: int) -> bytes | None:
    """The decoded body for stages that read it (None or b"" when empty): see `body`; a prefix when it
    decodes past `cap`, the bytes as sent when it does not decode. Rewrite a body only when it is whole."""
    if not message.raw_content:
        return message.raw_content
    return body(message, state, cap).data


def replace_body(message: http.Message, state: FlowState | None, data: bytes) -> None:
    """Set the decoded body (mitmproxy re-encodes it with the message's Content-Encoding, or drops an
    encoding it cannot write) and remember it as decoded, so later stages do not decode it again."""
    message.content = data
    if state is not None:
        raw = message.raw_content or b""
        _remember(state, isinstance(message, http.Request), DecodedBody(raw, content_encoding(message), data))


def _remember(state: FlowState, request: bool, got: DecodedBody) -> None:
    if request:
        state.request_body = got
    else:
        state.response_body = got


def answered(flow: http.HTTPFlow) -> bool:
    """True when an earlier stage (or mitmproxy) already answered or ended this flow."""
    return flow.response is not None or flow.error is not None or not flow.live


def refuse(flow: http.HTTPFlow, verdict: Verdict, code: str) -> None:
    """Answer the flow ourselves (the request never reaches upstream) and record why."""
    state = state_of(flow)
    request_id = state.request_id if state else "unknown"
    if state is not None:
        state.refuse(verdict)
        state.answered_by_proxy = True
    message = verdict.reason.message if verdict.reason else verdict.decision.value
    style = state.error_style if state else None
    r = refusals.render(
        style, verdict.decision, message, code, request_id, verdict.status, verdict.retry_after
    )
    flow.response = http.Response.make(r.status, r.body, {**r.headers, **verdict.headers})
    if state is not None:
        state.status = r.status


def storage_failed(runtime: Runtime, flow: http.HTTPFlow, stage: str, what: str, exc: Exception) -> None:
    """Storage unreachable: `fail_mode: open` lets the flow through (noted `<stage>_unchecked`),
    `closed` answers 503 naming the cause."""
    runtime.metrics.storage_errors.labels(stage).inc()
    state = state_of(flow)
    if runtime.storage_config.fail_open:
        if state is not None:
            state.note(Reason(stage, f"{stage}_unchecked", f"{what} storage unreachable: {exc}"))
        return
    reason = Reason(stage, "storage_unavailable", f"{what} storage unreachable: {exc}")
    refuse(flow, Verdict(Decision.ERROR, reason, status=503), "storage_unavailable")


def guarded(stage: str) -> Callable[[F], F]:
    """Wrap a hook so that its own failure blocks the flow (fail closed) unless `fail_open.<stage>` is set.

    mitmproxy logs an exception raised in a hook and then forwards the flow anyway, which would turn every
    bug in a guard rail into a silent bypass; this is the one place exceptions are caught broadly.
    """

    def decorate(fn: F) -> F:
        def on_error(self: Any, args: tuple[Any, ...], exc: BaseException) -> None:
            runtime: Runtime = self.runtime
            runtime.metrics.stage_errors.labels(stage).inc()
            log.error(
                "stage %s failed in %s: %s",
                stage,
                fn.__name__,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            flow = args[0] if args else None
            if runtime.config.stage_fails_open(stage) or not isinstance(flow, http.HTTPFlow):
                state = state_of(flow)
                if state is not None:
                    state.note(Reason(stage, "stage_error", f"{stage} stage failed; failing open"))
                return
            if flow.response is not None and flow.response.stream:
                return  # already streaming to the client: nothing safe left to replace
            verdict = Verdict(
                Decision.ERROR, Reason(stage, "stage_error", f"the {stage} stage failed"), status=500
            )
            refuse(flow, verdict, f"{stage}_failed")

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(self: Any, *args: Any) -> Any:
                try:
                    return await fn(self, *args)
                except Exception as exc:  # noqa: BLE001 - see docstring: fail closed, never open
                    on_error(self, args, exc)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any) -> Any:
            try:
                return fn(self, *args)
            except Exception as exc:  # noqa: BLE001 - see docstring: fail closed, never open
                on_error(self, args, exc)

        return cast(F, wrapper)

    return decorate


def elapsed(state: FlowState) -> float:
    return time.monotonic() - state.started
