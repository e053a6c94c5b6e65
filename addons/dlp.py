"""DLP stage: secrets and PII scanned in requests and responses (streams included), logged, redacted in place
or blocked; prompt injection in what flows back is flagged (X-Palaryn-Warning) or blocked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mitmproxy import http

from palaryn_proxy.addons._flow import PROXY_ANSWERED, answered, decoded, guarded, header, refuse, state_of
from palaryn_proxy.addons.usage import TAP, one_chunk, parse_llm_request
from palaryn_proxy.dlp import (
    ContentDecodingError,
    DlpConfig,
    DlpScanner,
    ScanResult,
    StreamDecoder,
    StreamScanner,
)
from palaryn_proxy.refusals import stream_error_event
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, FlowState, Kind, Reason, Verdict

THREAD_SCAN_BYTES = 64 * 1024  # bigger bodies are scanned in a worker thread, off the event loop
WARNING_HEADER = "X-Palaryn-Warning"
STREAM = "dlp_stream"


class DlpStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.scanner = DlpScanner(DlpConfig.from_mapping(runtime.config.dlp, runtime.config.injection))

    @guarded("dlp")
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow):
            return
        req = flow.request
        body = decoded(req) or None
        result = await _off_loop(
            len(body or b""),
            lambda: self.scanner.scan_request(
                host=state.host,
                method=req.method,
                path_and_query=req.path,
                headers=list(req.headers.items(multi=True)),
                body=body,
                content_type=header(req, b"content-type") or None,
            ),
        )
        self._record(state, result)
        if result.blocked:
            refuse(flow, Verdict(Decision.DENY, result.block_reason, status=403), "dlp_blocked")
            return
        if result.action == "redact":
            if result.redacted_body is not None:
                req.content = result.redacted_body  # re-encoded with the request's Content-Encoding
            if result.redacted_path_and_query is not None:
                req.path = result.redacted_path_and_query
            if result.redacted_headers is not None:
                req.headers.clear()
                for name, value in result.redacted_headers:
                    req.headers.add(name, value)
            if state.kind is Kind.LLM:
                parse_llm_request(flow, state)

    @guarded("dlp")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Streams: decode, scan and redact on the way through (overlap keeps split secrets whole)."""
        state = state_of(flow)
        resp = flow.response
        if state is None or resp is None or state.extra.get(PROXY_ANSWERED) or not callable(resp.stream):
            return
        try:
            decoder = StreamDecoder(header(resp, b"content-encoding"))
        except ContentDecodingError:
            return  # an encoding we cannot read: bytes pass as they are, the body is not scanned
        scanner = self.scanner.stream_scanner(
            direction="response", content_type=header(resp, b"content-type") or None, host=state.host
        )
        for name in ("content-encoding", "content-length"):
            resp.headers.pop(name, None)  # what we forward is decoded and may change length
        state.extra[STREAM] = scanner
        resp.stream = _filter(resp.stream, decoder, scanner, state)

    @guarded("dlp")
    async def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        resp = flow.response
        if state is None or resp is None or state.extra.get(PROXY_ANSWERED):
            return
        scanner: StreamScanner | None = state.extra.pop(STREAM, None)
        if scanner is not None:
            self._record_findings(state, [f.to_audit() for f in scanner.findings])
            return
        if resp.stream or not resp.raw_content:
            return
        body = decoded(resp)
        result = await _off_loop(
            len(body or b""),
            lambda: self.scanner.scan_response(
                host=state.host,
                headers=list(resp.headers.items(multi=True)),
                body=body,
                content_type=header(resp, b"content-type") or None,
                injection=state.kind is not Kind.LLM,
                json_keys=state.kind is not Kind.LLM,
            ),
        )
        self._record(state, result)
        if result.blocked:
            refuse(flow, Verdict(Decision.DENY, result.block_reason, status=403), "dlp_blocked")
            return
        if result.action == "redact" and result.redacted_body is not None:
            resp.content = result.redacted_body
        if result.warning_header:
            resp.headers[WARNING_HEADER] = result.warning_header

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
            tap = state.extra.get(TAP)
            parser = getattr(tap, "parser", None)
            message, code = "a secret in the response was blocked", "dlp_blocked"
            out.append(parser.error_event(message, code) if parser else stream_error_event(message, code))
            state.note(Reason("dlp", "stream_blocked", message), Decision.DENY)
        return [p for p in out if p] or b""

    return stream


def _decode(decoder: StreamDecoder, data: bytes, state: FlowState) -> bytes:
    try:
        return decoder.feed(data) if data else decoder.flush()
    except ContentDecodingError:
        state.note(Reason("dlp", "undecodable_stream", "stream content could not be decoded for scanning"))
        return b""


async def _off_loop(size: int, scan: Callable[[], ScanResult]) -> ScanResult:
    return await asyncio.to_thread(scan) if size > THREAD_SCAN_BYTES else scan()
