"""DLP stage: secrets and PII scanned in requests and responses (streams included), logged, redacted in place
or blocked; prompt injection in what flows back is flagged (X-Palaryn-Warning) or blocked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from mitmproxy import http

from palaryn_proxy.addons._flow import answered, body, guarded, header, refuse, replace_body, state_of
from palaryn_proxy.addons._llm import parse_llm_request
from palaryn_proxy.credentials.plan import SlotMask
from palaryn_proxy.dlp import DlpScanner, OnTimeout, ScanResult
from palaryn_proxy.dlp.decoded import BodyPlan, plan_body
from palaryn_proxy.dlp.scanner import ModelCheck
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.types import Decision, DecodedBody, FlowState, Kind, Reason, Verdict

THREAD_SCAN_BYTES = 64 * 1024  # bigger bodies are scanned in a worker thread, off the event loop
SCAN_THREADS = 2  # scans waiting for a thread count against their deadline too
WARNING_HEADER = "X-Palaryn-Warning"
log = logging.getLogger("palaryn")


class DlpStage:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.scanner = DlpScanner(runtime.config.sections.dlp)
        self.pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="palaryn-dlp")
        if (classifier := self.scanner.config.injection.classifier) is not None:
            log.info("injection.model: %s", classifier.describe())

    def done(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.scanner.close()

    @guarded("dlp")
    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or answered(flow):
            return
        req = flow.request
        plan = self._plan(flow, state, body(req, state, self.runtime.config.decoded_cap), "request")
        if plan is None:
            return
        checks: list[ModelCheck] = []
        slots = SlotMask(state.credential_plan)  # a credential's placeholder in its slot is not a leak
        result = await self._scan(
            flow,
            state,
            len(plan.scan or b""),
            lambda: self.scanner.scan_request(
                host=state.host,
                method=req.method,
                path_and_query=slots.path(req.path),
                headers=slots.headers(list(req.headers.items(multi=True))),
                body=plan.scan,
                content_type=header(req, b"content-type") or None,
                model_checks=checks,
            ),
        )
        if result is None:
            return
        await self._classify(checks)
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
                req.path = slots.restore(result.redacted_path_and_query)
            if result.redacted_headers is not None:
                req.headers.clear()
                for name, value in result.redacted_headers:
                    req.headers.add(name, slots.restore(value))
            if state.kind is Kind.LLM:
                parse_llm_request(flow, state, self.runtime.config.decoded_cap)

    @guarded("dlp")
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Streams: the usage stage's tap decodes each chunk once; our scanner reads it and redacts on the
        way through (overlap keeps split secrets whole); a block ends the stream with an error event."""
        state = state_of(flow)
        resp = flow.response
        plan = state.stream if state is not None else None
        if state is None or resp is None or state.answered_by_proxy or plan is None or plan.tap is None:
            return
        if (problem := plan.tap.undecodable) is not None:  # bytes pass as they are, the body is not scanned
            state.note(Reason("dlp", "undecodable_stream", f"response stream not scanned: {problem}"))
            return
        for name in ("content-encoding", "content-length"):
            resp.headers.pop(name, None)  # what we forward is decoded and may change length
        plan.scanner = self.scanner.stream_scanner(
            direction="response", content_type=header(resp, b"content-type") or None, host=state.host
        )

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
        checks: list[ModelCheck] = []
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
                model_checks=checks,
            ),
        )
        if result is None:
            return
        await self._classify(checks)
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

    async def _classify(self, checks: list[ModelCheck]) -> None:
        """The injection classifier (injection.model) scores in its own bounded pool; when it is busy, slow
        or failing, the built-in score stands and the skip is counted."""
        for check in checks:
            if (skipped := await self.scanner.classify(check)) is not None:
                self.runtime.metrics.injection_model_skipped.labels(skipped).inc()

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
            if reason != result.block_reason:  # the refusal that follows records that one
                state.note(reason, Decision.REDACT if result.action == "redact" else None)

    def _record_findings(self, state: FlowState, findings: list[dict[str, str]]) -> None:
        for finding in findings:
            self.runtime.metrics.dlp_findings.labels(
                finding["type"], finding["direction"], finding["action"]
            ).inc()
        state.dlp.extend(findings)
        if any(f["action"] == "redact" for f in findings):
            state.note(Reason("dlp", "redacted", f"{len(findings)} finding(s) redacted"), Decision.REDACT)


def _unredactable(flow: http.HTTPFlow, plan: BodyPlan, result: ScanResult) -> bool:
    """A redaction in the decoded prefix of an oversize body cannot be written back: refuse instead."""
    if plan.unredactable is None or result.action != "redact" or result.redacted_body is None:
        return False
    refuse(flow, Verdict(Decision.DENY, plan.unredactable, status=403), "dlp_blocked")
    return True
