"""DlpScanner: the one entry point: scan a request or a response, or open a stream scanner."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace

from ..types import Reason
from .binding import is_bound, issued_by
from .cleancache import CleanCache
from .config import DIRECTIONS, Action, DlpConfig, InjectionAction, Oversize
from .detector import SECRETS, TextView
from .engine import Hit, detect, resolve_overlaps
from .injection import InjectionDetector, tool_result_texts
from .model import ALLOW, BLOCK, REDACT, Finding, InjectionResult, ScanResult, finding_reason
from .redact import apply_bytes, apply_text, marker
from .registry import ALL_DETECTORS, GROUPS, Prefilter
from .segment import Segment
from .sources import body_charset, body_segments, header_segments, is_binary, url_segments
from .stream import StreamScanner
from .wide import transcode


class DlpScanner:
    """Compiled once from a DlpConfig; scan methods are pure functions of their arguments."""

    def __init__(self, config: DlpConfig | None = None) -> None:
        self.config = config or DlpConfig()
        self._actions = {(t, d): self.config.action_for(t, d) for t in GROUPS for d in DIRECTIONS}
        self._prefilters = {
            d: Prefilter([det for det in ALL_DETECTORS if self._actions[(det.type, d)] != Action.OFF])
            for d in DIRECTIONS
        }
        self._secret_prefilters = {
            d: Prefilter([det for det in pf.detectors if det.group == SECRETS])
            for d, pf in self._prefilters.items()
        }
        self.injection = InjectionDetector()
        # Requests only: agents re-send their history every turn; responses are new text each time.
        chars = self.config.clean_cache_chars
        self._clean = {"request": CleanCache(chars)} if chars else {}

    # -- public API -------------------------------------------------------------------------------------

    def scan_request(
        self,
        *,
        host: str,
        method: str = "",
        path_and_query: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> ScanResult:
        """Scan what goes out. A credential bound to `host` in the header / query parameter / path its
        issuer expects is not a finding; tool results inside an LLM request are checked for injection."""
        result = ScanResult("request")
        if not self.config.enabled:
            return result
        ct = content_type or _header(headers, "content-type")
        segments = url_segments(path_and_query) + header_segments(headers)
        scanned, encoding = self._body(result, body, ct, segments)
        findings = self.findings_in("request", host, segments)
        self._finish(result, findings, body, path_and_query, headers, encoding)
        if (
            scanned
            and self.config.injection.scan_requests
            and self.config.injection.action != InjectionAction.OFF
        ):
            texts = tool_result_texts(scanned, ct)
            if texts:
                self._judge(result, self.injection.score_texts(texts, self.config.injection.max_scan_bytes))
        return result

    def scan_response(
        self,
        *,
        host: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
        injection: bool = True,
        json_keys: bool = True,
    ) -> ScanResult:
        """Scan what comes back. For an LLM provider's own answer pass injection=False (its completion is
        not a tool result) and json_keys=False (its JSON keys are the provider's schema, not data)."""
        result = ScanResult("response")
        if not self.config.enabled:
            return result
        ct = content_type or _header(headers, "content-type")
        segments = header_segments(headers)
        scanned, encoding = self._body(result, body, ct, segments, json_keys)
        self._finish(result, self.findings_in("response", host, segments), body, None, headers, encoding)
        if (
            injection
            and scanned
            and self.config.injection.action != InjectionAction.OFF
            and not is_binary(ct, scanned)
        ):
            limit = self.config.injection.max_scan_bytes
            self._judge(result, self.injection.score_body(scanned[:limit], ct, "response.body"))
        return result

    def scan_text(
        self, text: str, *, direction: str = "request", host: str = "", location: str = ""
    ) -> list[Finding]:
        """Findings in a free-standing text (a WebSocket message, a log line); offsets are UTF-8 byte
        offsets, `location` (default "<direction>.body") is copied to each finding; nothing is redacted."""
        segs = body_segments(text.encode("utf-8", "surrogatepass"), "text/plain", 0)
        found = [f for _, f in self.findings_in(direction, host, segs)]
        return [replace(f, location=location) for f in found] if location else found

    def stream_scanner(
        self,
        *,
        direction: str = "response",
        content_type: str | None = None,
        host: str = "",
        overlap: int | None = None,
    ) -> StreamScanner:
        """An incremental scanner for a streamed body (SSE and NDJSON are scanned event by event)."""
        return StreamScanner(self, direction, content_type or "", host, overlap or self.config.stream_overlap)

    # -- internals (also used by the stream scanner) -----------------------------------------------------

    def may_hold_secret(self, direction: str, text: str) -> bool:
        """A cheap test: does text contain a keyword of any enabled secret detector?"""
        return bool(self._secret_prefilters[direction].candidates(TextView(text)))

    def findings_in(self, direction: str, host: str, segments: list[Segment]) -> list[tuple[Hit, Finding]]:
        """Detect, resolve overlaps, drop credentials bound to `host`, and describe what is left."""
        clean = self._clean.get(direction)
        hits = resolve_overlaps(
            detect(segments, self._prefilters[direction], self.config.decode, clean=clean)
        )
        out = []
        for h in hits:
            t = h.detector.type
            seg = h.segment
            if direction == "request" and is_bound(self.config.bindings, t, host, seg.part, seg.name):
                continue
            if direction == "response" and issued_by(self.config.bindings, t, host):
                continue
            value = h.value
            out.append((h, Finding(
                type=t, group=h.detector.group, direction=direction, location=seg.where(direction),
                action=self._actions[(t, direction)].value, start=h.start, end=h.end, hash=self._hash(value),
                preview=value[: min(h.detector.preview, 4)],
            )))  # fmt: skip
        return out

    def _hash(self, value: str) -> str:
        digest = hmac.new(self.config.hash_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return digest.hexdigest()[:16]

    def _body(
        self, result: ScanResult, body: bytes | None, ct: str, segments: list[Segment], json_keys: bool = True
    ) -> tuple[bytes | None, str]:
        """Append the body's segments; apply the oversize policy. Returns the bytes that were scanned (as
        UTF-8, for the injection checks) and the body's encoding (for redaction markers)."""
        if not body:
            return None, "utf-8"
        limit = self.config.max_scan_bytes
        if len(body) > limit:
            result.oversize = True
            note = Reason(
                "dlp", "max_scan_bytes", f"body of {len(body)} bytes exceeds dlp.max_scan_bytes={limit}"
            )
            result.notes.append(note)
            if self.config.oversize == Oversize.BLOCK:
                result.action, result.block_reason = BLOCK, note
                return None, "utf-8"
            if self.config.oversize == Oversize.PASS:
                return None, "utf-8"
            body = body[:limit]
        wide = body_charset(body, ct)
        segments += body_segments(body, ct, self.config.decode.json_max_depth, json_keys, wide)
        return (body, "utf-8") if wide is None else (transcode(body, wide), wide.codec)

    def _finish(
        self,
        result: ScanResult,
        findings: list[tuple[Hit, Finding]],
        body: bytes | None,
        path_and_query: str | None,
        headers: Sequence[tuple[str, str]],
        encoding: str = "utf-8",
    ) -> None:
        result.findings = [f for _, f in findings]
        blocking = next((f for f in result.findings if f.action == BLOCK), None)
        if blocking is not None and result.block_reason is None:
            result.block_reason = finding_reason(blocking)
        if result.action == BLOCK or blocking is not None:
            result.action = BLOCK
            return
        spans: dict[str, list[tuple[int, int, str]]] = {}
        for h, f in findings:
            if f.action == REDACT:
                spans.setdefault(h.segment.container, []).append(
                    (f.start, f.end, h.segment.wrap + marker(f.type, h.segment.quote) + h.segment.wrap)
                )
        if not spans:
            result.action = ALLOW
            return
        result.action = REDACT
        if "body" in spans and body is not None:
            result.redacted_body = apply_bytes(body, spans.pop("body"), encoding)
        if "path" in spans and path_and_query is not None:
            result.redacted_path_and_query = apply_text(path_and_query, spans.pop("path"))
        if spans:
            result.redacted_headers = [
                (k, apply_text(v, spans[f"header:{i}"]) if f"header:{i}" in spans else v)
                for i, (k, v) in enumerate(headers)
            ]

    def _judge(self, result: ScanResult, verdict: tuple[float, tuple[str, ...], str] | None) -> None:
        if verdict is None:
            return
        score, signals, location = verdict
        cfg = self.config.injection
        action = cfg.action.value if score >= cfg.threshold else "none"
        result.injection = InjectionResult(round(score, 2), signals, location, action)
        if action == InjectionAction.BLOCK:
            result.action = BLOCK
            result.block_reason = result.block_reason or result.injection.reason()


def _header(headers: Sequence[tuple[str, str]], name: str) -> str:
    for k, v in headers:
        if k.lower() == name:
            return v
    return ""
