"""DlpScanner: the one entry point: scan a request or a response, or open a stream scanner."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..types import Reason
from .binding import is_bound, issued_by
from .cleancache import CleanCache
from .config import DIRECTIONS, Action, DlpConfig, InjectionAction, Oversize
from .detector import SECRETS, TextView
from .engine import Hit, detect, resolve_overlaps
from .fastpath import clean_json, parse
from .injection import InjectionDetector, tool_result_texts
from .injection_model import ModelPool, readable_text
from .layers import may_read
from .model import ALLOW, BLOCK, REDACT, Finding, InjectionResult, ScanResult, finding_reason
from .redact import apply_bytes, apply_text, marker
from .registry import ALL_DETECTORS, GROUPS, Prefilter
from .segment import Segment
from .sources import body_charset, body_segments, header_segments, is_binary, url_segments
from .stream import StreamScanner
from .wide import transcode

Verdict = tuple[float, tuple[str, ...], str]  # injection score, signals, location


@dataclass(slots=True)
class ModelCheck:
    """The classifier's part of one scan's injection check, still to run (see DlpScanner.classify): the texts
    it reads as (location, text), and the built-in verdict of each (None: no signal)."""

    result: ScanResult
    texts: list[tuple[str, str]]
    builtin: list[Verdict | None]


class DlpScanner:
    """Compiled once from a DlpConfig; scan methods are pure functions of their arguments."""

    def __init__(self, config: DlpConfig | None = None) -> None:
        self.config = config or DlpConfig()
        self._actions = {(t, d): self.config.action_for(t, d) for t in GROUPS for d in DIRECTIONS}
        self._keyed_hash = hmac.new(self.config.hash_key, digestmod=hashlib.sha256)
        # type -> the bindings naming it, in order: a finding is checked against these, not the whole table
        self._bindings = {t: tuple(b for b in self.config.bindings if t in b.types) for t in GROUPS}
        self._prefilters = {
            d: Prefilter([det for det in ALL_DETECTORS if self._actions[(det.type, d)] != Action.OFF])
            for d in DIRECTIONS
        }
        self._secret_prefilters = {
            d: Prefilter([det for det in pf.detectors if det.group == SECRETS])
            for d, pf in self._prefilters.items()
        }
        self.injection = InjectionDetector()
        inj = self.config.injection
        self.model = (  # threads start with the first check
            ModelPool(inj.classifier, inj.model_threads, inj.model_queue, inj.model_timeout_seconds)
            if inj.classifier is not None
            else None
        )
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
        model_checks: list[ModelCheck] | None = None,
    ) -> ScanResult:
        """Scan what goes out. A credential bound to `host` in the header / query parameter / path its
        issuer expects is not a finding; tool results inside an LLM request are checked for injection.

        With `injection.model`, a list given as `model_checks` receives the classifier's part of the check
        for the caller to run off the event loop (`await classify(check)`); without one it runs here,
        blocking up to injection.model_timeout_seconds."""
        result = ScanResult("request")
        if not self.config.enabled:
            return result
        ct = content_type or _header(headers, "content-type")
        decode = self.config.decode
        segments = url_segments(path_and_query, decode) + header_segments(headers, decode)
        scanned, encoding = self._body(result, body, ct, segments)
        findings = self.findings_in("request", host, segments)
        self._finish(result, findings, body, path_and_query, headers, encoding)
        if (
            scanned
            and self.config.injection.scan_requests
            and self.config.injection.action != InjectionAction.OFF
        ):
            texts = tool_result_texts(scanned, ct)
            limit = self.config.injection.max_scan_bytes
            if texts and self.model is None:
                self._judge(result, self.injection.score_texts(texts, limit))
            elif texts:
                texts = [(location, text[:limit]) for location, text in texts]
                builtin = [self.injection.score_texts([t], limit) for t in texts]
                self._check(ModelCheck(result, texts, builtin), model_checks)
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
        model_checks: list[ModelCheck] | None = None,
    ) -> ScanResult:
        """Scan what comes back. For an LLM provider's own answer pass injection=False (its completion is
        not a tool result) and json_keys=False (its JSON keys are the provider's schema, not data).
        `model_checks`: as for scan_request."""
        result = ScanResult("response")
        if not self.config.enabled:
            return result
        ct = content_type or _header(headers, "content-type")
        segments = header_segments(headers, self.config.decode)
        scanned, encoding = self._body(result, body, ct, segments, json_keys)
        self._finish(result, self.findings_in("response", host, segments), body, None, headers, encoding)
        if (
            injection
            and scanned
            and self.config.injection.action != InjectionAction.OFF
            and not is_binary(ct, scanned)
        ):
            limit = self.config.injection.max_scan_bytes
            verdict = self.injection.score_body(scanned[:limit], ct, "response.body")
            if self.model is None:
                self._judge(result, verdict)
            else:
                texts = [("response.body", readable_text(scanned[:limit], ct))]
                self._check(ModelCheck(result, texts, [verdict]), model_checks)
        return result

    def scan_text(
        self, text: str, *, direction: str = "request", host: str = "", location: str = ""
    ) -> list[Finding]:
        """Findings in a free-standing text (a WebSocket message, a log line); offsets are UTF-8 byte
        offsets, `location` (default "<direction>.body") is copied to each finding; nothing is redacted."""
        segs = body_segments(
            text.encode("utf-8", "surrogatepass"), "text/plain", 0, layers=self.config.decode
        )
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

    async def classify(self, check: ModelCheck) -> str | None:
        """Run the classifier's part of an injection check in its pool (never on the event loop) and judge.
        Returns None, or why the built-in score stood alone: queue_full, timeout or error."""
        assert self.model is not None, "a ModelCheck comes from a scanner with injection.model"
        got = await self.model.scores([text for _, text in check.texts])
        self._finish_check(check, got)
        return got if isinstance(got, str) else None

    def close(self) -> None:
        """Stop the classifier's threads (a check still waiting is cancelled)."""
        if self.model is not None:
            self.model.close()

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
            bindings = self._bindings.get(t, ())
            if direction == "request" and is_bound(bindings, t, host, seg.part, seg.name):
                continue
            if direction == "response" and issued_by(bindings, t, host):
                continue
            value = h.value
            out.append((h, Finding(
                type=t, group=h.detector.group, direction=direction, location=seg.where(direction),
                action=self._actions[(t, direction)].value, start=h.start, end=h.end, hash=self._hash(value),
                preview=value[: min(h.detector.preview, 4)],
            )))  # fmt: skip
        return out

    def _hash(self, value: str) -> str:
        digest = self._keyed_hash.copy()  # the key's pads hashed once, not per finding
        digest.update(value.encode("utf-8", "surrogatepass"))
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
        if wide is None and self._clean_json(body, ct, result.direction):
            return body, "utf-8"
        decode = self.config.decode
        segments += body_segments(body, ct, decode.json_max_depth, json_keys, wide, layers=decode)
        return (body, "utf-8") if wide is None else (transcode(body, wide), wide.codec)

    def _clean_json(self, body: bytes, ct: str, direction: str) -> bool:
        """Does the fast path prove this JSON body clean? Then it needs no segments (see fastpath.py)."""
        lowered = ct.lower()
        if lowered.startswith(_NOT_JSON) or is_binary(lowered, body):
            return False
        if "json" not in lowered and body[:64].lstrip()[:1] not in (b"{", b"["):
            return False
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        decode = self.config.decode
        if may_read(text, decode):  # the layers also read the document as text (`["g", "h", "p", ...]`)
            return False
        doc = parse(text)
        return doc is not None and clean_json(
            doc, self._prefilters[direction], decode, lambda view: may_read(_layer_view(view.text), decode)
        )

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

    def _check(self, check: ModelCheck, deferred: list[ModelCheck] | None) -> None:
        """Judge now when the model cannot change the outcome (the flow is blocked already, or by default the
        higher score counts and the built-in one is past the threshold); else defer the check to the caller
        or run it here."""
        cfg = self.config.injection
        best = _best(check.builtin)
        decided = cfg.model_weight is None and best is not None and best[0] >= cfg.threshold
        if decided or check.result.blocked:
            self._judge(check.result, best)
        elif deferred is not None:
            deferred.append(check)
        else:
            assert self.model is not None
            self._finish_check(check, self.model.scores_blocking([text for _, text in check.texts]))

    def _finish_check(self, check: ModelCheck, scores: list[float] | str) -> None:
        if isinstance(scores, str):  # skipped: the built-in verdict alone
            self._judge(check.result, _best(check.builtin))
            return
        pairs = zip(check.texts, check.builtin, scores, strict=True)
        self._judge(check.result, _best([self._combine(b, s, loc) for (loc, _), b, s in pairs]))

    def _combine(self, builtin: Verdict | None, model: float, location: str) -> Verdict | None:
        """max(built-in, model), or (1 - w) * built-in + w * model with `injection.model_weight` w; the
        `model` signal is added when the model's own score crossed the threshold."""
        cfg = self.config.injection
        score, signals = (builtin[0], builtin[1]) if builtin is not None else (0.0, ())
        if model >= cfg.threshold:
            signals = ("model", *signals) if model >= score else (*signals, "model")
        if not signals:
            return None
        w = cfg.model_weight
        combined = max(score, model) if w is None else (1 - w) * score + w * model
        return combined, signals, builtin[2] if builtin is not None else location

    def _judge(self, result: ScanResult, verdict: Verdict | None) -> None:
        if verdict is None:
            return
        score, signals, location = verdict
        cfg = self.config.injection
        action = cfg.action.value if score >= cfg.threshold else "none"
        result.injection = InjectionResult(round(score, 2), signals, location, action)
        if action == InjectionAction.BLOCK:
            result.action = BLOCK
            result.block_reason = result.block_reason or result.injection.reason()


def _best(verdicts: list[Verdict | None]) -> Verdict | None:
    return max((v for v in verdicts if v is not None), key=lambda v: v[0], default=None)


def _layer_view(joined: str) -> str:
    """The fast path's joined strings as the layers see a batch: their NUL-interleaving test would take the
    NUL of the separator for an encoding (layers.py joins with `\\n\\x01\\n`)."""
    return joined.replace("\x00", "\x01")


_NOT_JSON = ("multipart/", "application/x-www-form-urlencoded", "text/html")


def _header(headers: Sequence[tuple[str, str]], name: str) -> str:
    for k, v in headers:
        if k.lower() == name:
            return v
    return ""
