"""DLP stage: secrets and PII scanned in requests and responses (streams included), logged, redacted in place
or blocked; prompt injection in what flows back is flagged (X-Palaryn-Warning) or blocked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import (
    answered,
    body,
    content_encoding,
    guarded,
    header,
    refuse,
    replace_body,
    state_of,
)
from palaryn_proxy.addons._llm import parse_llm_request
from palaryn_proxy.dlp import (
    ContentDecodingError,
    DlpScanner,
    OnTimeout,
    ScanResult,
    StreamDecoder,
    StreamScanner,
)
from palaryn_proxy.dlp.decoded import BodyPlan, plan_body
from palaryn_proxy.refusals import stream_error_event
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, DecodedBody, FlowState, Kind, Reason, StreamPlan, Verdict
from palaryn_proxy.usage.stream import one_chunk

THREAD_SCAN_BYTES = 64 * 1024  # bigger bodies are scanned in a worker thread, off the event loop
SCAN_THREADS = 2  # scans waiting for a thread count against their deadline too
WARNING_HEADER = "X-Palaryn-Warning"


class DlpStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.scanner = DlpScanner(runtime.config.sections.dlp)
        self.pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="palaryn-dlp")

    def done(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    @guarded("dlp")
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow):
            return
        req = flow.request
        plan = self._plan(flow, state, body(req, state, self.runtime.config.decoded_cap), "request")
        if plan is None:
            return
        result = await self._scan(
            flow,
            state,
            len(plan.scan or b""),
            lambda: self.scanner.scan_request(
                host=state.host,
                method=req.method,
                path_and_query=req.path,
                headers=list(req.headers.items(multi=True)),
                body=plan.scan,
                content_type=header(req, b"content-type") or None,
            ),
        )
        if result is None:
            return
        self._record(state, result)
        if result.blocked:
            refuse(flow, Verdict(Decision.DENY, result.block_reason, status=403), "dlp_blocked")
            return
        if _unredactable(flow, plan, result):
            return
        if result.action == "redact":
            if result.redacted_body is not None:
                replace_body(req, state, result.redacted_body)  # re-encoded with its Content-Encoding
            if result.redacted_path_and_query is not None:
                req.path = result.redacted_path_and_query
            if result.redacted_headers is not None:
                req.headers.clear()
                for name, value in result.redacted_headers:
                    req.headers.add(name, value)
            if state.kind is Kind.LLM:
                parse_llm_request(flow, state, self.runtime.config.decoded_cap)

    @guarded("dlp")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Streams: decode, scan and redact on the way through (overlap keeps split secrets whole)."""
        state = state_of(flow)
        resp = flow.response
        if state is None or resp is None or state.answered_by_proxy or not callable(resp.stream):
            return
        try:
            decoder = StreamDecoder(content_encoding(resp), self.runtime.config.decoded_cap)
        except ContentDecodingError as exc:  # bytes pass as they are, the body is not scanned
            state.note(Reason("dlp", "undecodable_stream", f"response stream not scanned: {exc}"))
            return
        scanner = self.scanner.stream_scanner(
            direction="response", content_type=header(resp, b"content-type") or None, host=state.host
        )
        for name in ("content-encoding", "content-length"):
            resp.headers.pop(name, None)  # what we forward is decoded and may change length
        if state.stream is None:
            state.stream = StreamPlan()
        state.stream.scanner = scanner
        resp.stream = _filter(resp.stream, decoder, scanner, state)

    @guarded("dlp")
    async def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        resp = flow.response
        if state is None or resp is None or state.answered_by_proxy:
            return
        stream = state.stream
        if stream is not None and stream.scanner is not None:
            scanner, stream.scanner = stream.scanner, None  # recorded once
            self._record_findings(state, [f.to_audit() for f in scanner.findings])
            return
        if resp.stream or not resp.raw_content:
            return
        plan = self._plan(flow, state, body(resp, state, self.runtime.config.decoded_cap), "response")
        if plan is None:
            return
        result = await self._scan(
            flow,
            state,
            len(plan.scan or b""),
            lambda: self.scanner.scan_response(
                host=state.host,
                headers=list(resp.headers.items(multi=True)),
                body=plan.scan,
                content_type=header(resp, b"content-type") or None,
                injection=state.kind is not Kind.LLM,
                json_keys=state.kind is not Kind.LLM,
            ),
        )
        if result is None:
            return
        self._record(state, result)
        if result.blocked:
            refuse(flow, Verdict(Decision.DENY, result.block_reason, status=403), "dlp_blocked")
            return
        if _unredactable(flow, plan, result):
            return
        if result.action == "redact" and result.redacted_body is not None:
            replace_body(resp, state, result.redacted_body)
        if result.warning_header:
            resp.headers[WARNING_HEADER] = result.warning_header

    async def _scan(
        self, flow: http.HTTPFlow, state: FlowState, size: int, scan: Callable[[], ScanResult]
    ) -> ScanResult | None:
        """Scan a small body on the loop, a bigger one in a worker thread up to `dlp.scan_timeout_seconds`.

        Past the deadline `dlp.on_timeout` applies (403, or pass flagged) and None is returned; a scan
        still queued is cancelled, a running one finishes in its thread (its work is linear in the body,
        itself capped by dlp.max_scan_bytes) and its result is dropped."""
        if size <= THREAD_SCAN_BYTES:
            return scan()
        config = self.scanner.config
        job = asyncio.get_running_loop().run_in_executor(self.pool, scan)
        try:
            return await asyncio.wait_for(job, config.scan_timeout_seconds)
        except TimeoutError:
            pass
        self.runtime.metrics.dlp_scan_timeouts.labels(
            "response" if flow.response is not None else "request", str(config.on_timeout)
        ).inc()
        what = f"the DLP scan took longer than {config.scan_timeout_seconds:g} s"
        if config.on_timeout is OnTimeout.BLOCK:
            refuse(
                flow, Verdict(Decision.DENY, Reason("dlp", "scan_timeout", what), status=403), "dlp_timeout"
            )
        else:
            state.note(Reason("dlp", "scan_timeout", what + "; passed unscanned (dlp.on_timeout: pass)"))
        return None

    def _plan(
        self, flow: http.HTTPFlow, state: FlowState, got: DecodedBody, direction: str
    ) -> BodyPlan | None:
        """What to scan of the decoded body (see plan_body); None when the size choice refused the flow."""
        plan = plan_body(got, self.scanner.config, direction)
        for note in plan.notes:
            state.note(note)
        if plan.block is None:
            return plan
        refuse(flow, Verdict(Decision.DENY, plan.block, status=403), "dlp_blocked")
        return None

    def _record(self, state: FlowState, result: ScanResult) -> None:
        self._record_findings(state, result.audit())
        for reason in result.reasons():
            state.note(reason, Decision.REDACT if result.action == "redact" else None)

    def _record_findings(self, state: FlowState, findings: list[dict[str, str]]) -> None:
        for finding in findings:
            self.runtime.metrics.dlp_findings.labels(
                finding["type"], finding["direction"], finding["action"]
            ).inc()
        state.dlp.extend(findings)
        if any(f["action"] == "redact" for f in findings):
            state.note(Reason("dlp", "redacted", f"{len(findings)} finding(s) redacted"), Decision.REDACT)


def _filter(
    inner: Callable[[bytes], Any], decoder: StreamDecoder, scanner: StreamScanner, state: FlowState
) -> Callable[[bytes], bytes | list[bytes]]:
    """Compose with the usage tap: the tap sees the upstream bytes, the client gets decoded, redacted ones."""

    def stream(chunk: bytes) -> bytes | list[bytes]:
        produced = inner(chunk)
        pieces = [produced] if isinstance(produced, bytes) else list(produced)
        out: list[bytes] = []
        if chunk:
            for piece in pieces:
                if piece and not scanner.blocked:
                    out.append(scanner.feed(_decode(decoder, piece, state)))
            return one_chunk(out)  # one write to the client per upstream chunk
        tail = _decode(decoder, b"", state)  # end of stream: flush, then the tap's own closing events
        out.append(scanner.feed(tail) if tail else b"")
        out.append(scanner.finish())
        out.extend(pieces)  # error events the tap appends are already plain
        if scanner.blocked:
            tap = state.stream.tap if state.stream is not None else None
            parser = tap.parser if tap is not None else None
            message, code = "a secret in the response was blocked", "dlp_blocked"
            out.append(parser.error_event(message, code) if parser else stream_error_event(message, code))
            state.note(Reason("dlp", "stream_blocked", message), Decision.DENY)
        return [p for p in out if p] or b""

    return stream


def _unredactable(flow: http.HTTPFlow, plan: BodyPlan, result: ScanResult) -> bool:
    """A redaction in the decoded prefix of an oversize body cannot be written back: refuse instead."""
    if plan.unredactable is None or result.action != "redact" or result.redacted_body is None:
        return False
    refuse(flow, Verdict(Decision.DENY, plan.unredactable, status=403), "dlp_blocked")
    return True


def _decode(decoder: StreamDecoder, data: bytes, state: FlowState) -> bytes:
    """Decode a stream chunk; past max_decoded_bytes the stream ends there (its encoding is already
    dropped from the headers, so the rest cannot be passed on as sent)."""
    oversize, problem = decoder.oversize, decoder.problem
    try:
        out = decoder.feed(data) if data else decoder.flush()
    except ContentDecodingError:
        state.note(Reason("dlp", "undecodable_stream", "stream content could not be decoded for scanning"))
        return b""
    if decoder.oversize and not oversize:
        cut = "response stream decodes to more than max_decoded_bytes: it ends there"
        state.note(Reason("dlp", "decoded_oversize", cut))
    elif decoder.problem and not problem:
        state.note(Reason("dlp", "decoded_leniently", f"response stream: {decoder.problem}"))
    return out
