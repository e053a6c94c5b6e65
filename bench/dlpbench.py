"""DLP micro-benchmarks: scan throughput on prose, chat JSON and secret-dense text, and adversarial inputs."""

from __future__ import annotations

import bisect
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from micro import Row, per_call
from payloads import chat_request, prose, upload_document

from palaryn_proxy.dlp import DlpConfig, DlpScanner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine" / "dlp"))

# Distinctive vendor formats (context-free); generic ones (hex32, password, uuid) need context to count.
PLANTED = ("aws_access_key_id", "github_pat", "gitlab_pat", "slack_bot_token", "stripe_secret_key",
           "openai_project_key", "anthropic_api_key", "google_api_key", "sendgrid_api_key", "npm_token",
           "huggingface_token", "jwt", "private_key", "docker_hub_token", "shopify_token")  # fmt: skip
ADVERSARIAL_BOUND_S = 1.0  # per MiB: a regex with catastrophic backtracking takes minutes, not seconds


def scanner(clean_cache_chars: int = 0) -> DlpScanner:
    """The bench's DLP config; the clean-text cache is off unless asked, so repeated scans stay cold."""
    dlp = {"actions": {"secrets": "redact", "pii": "log"}, "clean_cache_chars": clean_cache_chars}
    return DlpScanner(DlpConfig.from_mapping(dlp, {"action": "flag"}))


def secret_dense() -> tuple[bytes, list[tuple[int, int]]]:
    """≈256 KiB of config-file lines, one planted credential per line; returns the text and the spans."""
    from dlp_fakes import fake

    out, spans, size, i = bytearray(), [], 0, 0
    while size < 256 * 1024:
        name = PLANTED[i % len(PLANTED)]
        value = fake(name, seed=i).encode()
        prefix = f"line {i}: export {name.upper()}=".encode()
        spans.append((len(out) + len(prefix), len(out) + len(prefix) + len(value)))
        out += prefix + value + b"\n"
        size, i = len(out), i + 1
    return bytes(out), spans


def recall(findings: list, spans: list[tuple[int, int]]) -> float:
    hit = sorted((f.start, f.end) for f in findings if f.location.startswith("request.body"))
    found, j = 0, 0
    for start, end in spans:
        while j < len(hit) and hit[j][1] <= start:
            j += 1
        if j < len(hit) and hit[j][0] < end:
            found += 1
    return found / len(spans)


def adversarial() -> dict[str, bytes]:
    mib = 1 << 20
    return {
        "repeated 'a'": b"a" * mib,
        "AKIA prefixes": b"AKIA" * (mib // 4),
        "unterminated PEM headers": (b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 60 + b"\n") * (mib // 89),
        "base64 run, no padding": b"QUJD" * (mib // 4),
        "email-like @ runs": b"a.b-c_d@" * (mib // 8),
        "digit run (card-like)": b"4111 " * (mib // 5),
        "deep JSON nesting": b'{"a":' * 20000 + b"1" + b"}" * 20000,
        "backslash-u escapes": b'{"x":"' + b"\\u0041" * (mib // 6) + b'"}',
        "zero-width chars": ("a\u200b" * (mib // 4)).encode(),
    }


def _scan(s: DlpScanner, body: bytes, ct: str) -> object:
    return s.scan_request(host="api.openai.com", method="POST", path_and_query="/v1/chat/completions",
                          headers=[("content-type", ct)], body=body, content_type=ct)  # fmt: skip


def bench_dlp(scale: float) -> list[Row]:
    s = scanner()
    rows: list[Row] = []
    clean = prose(1 << 20).encode()
    t = per_call(lambda: _scan(s, clean, "text/plain"), 1.0 * scale)
    rows.append(
        ["DLP scan, clean prose (1 MiB)", f"{len(clean) / t / 1e6:.1f} MB/s", f"{t * 1e3:.1f} ms per MiB"]
    )
    rows += _detect_secrets_prose(len(clean) / t)
    chat = chat_request()
    samples = []
    for _ in range(int(300 * scale) + 20):
        start = time.perf_counter()
        _scan(s, chat, "application/json")
        samples.append(time.perf_counter() - start)
    p50 = statistics.median(samples)
    rows.append(["DLP scan, 4 KB JSON chat request", f"{len(chat) / p50 / 1e6:.1f} MB/s",
                 f"added latency p50 {p50 * 1e3:.2f} ms per request"])  # fmt: skip
    warm = scanner(clean_cache_chars=8_000_000)  # as the proxy runs: a re-sent conversation is remembered
    _scan(warm, chat, "application/json")
    again = statistics.median(_timed(lambda: _scan(warm, chat, "application/json")) for _ in range(200))
    rows.append(["DLP scan, the same 4 KB request re-sent (clean cache)", f"{len(chat) / again / 1e6:.1f} MB/s",
                 f"p50 {again * 1e3:.2f} ms; what (c) pays in the chat rows, which re-send one body"])  # fmt: skip
    doc = upload_document()
    t = per_call(lambda: _scan(s, doc, "application/json"), 1.0 * scale)
    rows.append(["DLP scan, 1 MB JSON document (the upload body)", f"{len(doc) / t / 1e6:.1f} MB/s",
                 f"{t * 1e3:.0f} ms per document; {doc.count(b'\"text\"')} string fields"])  # fmt: skip
    rows += _secret_rows(s, scale)
    rows += _adversarial_rows(s)
    return rows


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _secret_rows(s: DlpScanner, scale: float) -> list[Row]:
    try:
        dense, spans = secret_dense()
    except ImportError:
        return [["DLP scan, secret-dense text", "skipped", "tests/engine/dlp/dlp_fakes.py not found"]]
    result = _scan(s, dense, "text/plain")
    t = per_call(lambda: _scan(s, dense, "text/plain"), 1.0 * scale)
    got = recall(result.findings, spans)  # type: ignore[attr-defined]
    rows = [["DLP scan, secret-dense text (256 KiB)", f"{len(dense) / t / 1e6:.2f} MB/s",
             f"{len(spans)} planted ({len(PLANTED)} formats), recall {got:.0%}"]]  # fmt: skip
    rows.append(_detect_secrets_row(dense, spans, len(dense) / t))
    return rows


def detect_secrets_scan(text: bytes) -> tuple[float, list[bool], list[int]] | None:
    """detect-secrets' default plugins line by line: (seconds, line flagged?, line start offsets)."""
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    lines = text.decode().split("\n")
    with default_settings():
        start = time.perf_counter()
        flagged = [any(True for _ in scan_line(line)) for line in lines]
        seconds = time.perf_counter() - start
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line.encode()) + 1
    return seconds, flagged, starts


def _detect_secrets_row(dense: bytes, spans: list[tuple[int, int]], ours: float) -> Row:
    scan = detect_secrets_scan(dense)
    if scan is None:
        return [
            "detect-secrets on the same text",
            "skipped",
            "not installed (.venv/bin/pip install detect-secrets)",
        ]
    seconds, flagged, starts = scan
    found = 0
    for begin, end in spans:
        first = bisect.bisect_right(starts, begin) - 1
        last = bisect.bisect_right(starts, end - 1) - 1
        found += any(flagged[first : last + 1])
    rate = len(dense) / seconds
    return ["detect-secrets on the same text", f"{rate / 1e6:.2f} MB/s",
            f"recall {found / len(spans):.0%} (a line flagged); palaryn is {ours / rate:.1f}× its speed"]  # fmt: skip


def _detect_secrets_prose(ours: float) -> list[Row]:
    text = "\n".join(prose(120) for _ in range(2000)).encode()  # 240 KB of 120-character lines
    scan = detect_secrets_scan(text)
    if scan is None:
        return []
    rate = len(text) / scan[0]
    return [
        ["detect-secrets, clean prose", f"{rate / 1e6:.2f} MB/s", f"palaryn is {ours / rate:.1f}× its speed"]
    ]


def _adversarial_rows(s: DlpScanner) -> list[Row]:
    worst_name, worst, errors = "", 0.0, []
    inputs = adversarial()
    for name, body in inputs.items():
        start = time.perf_counter()
        try:
            _scan(s, body, "application/json" if body.startswith(b"{") else "text/plain")
        except (RecursionError, ValueError, MemoryError) as exc:  # the dlp stage would answer 500
            errors.append(f"{name}: {type(exc).__name__}")
        per_mib = (time.perf_counter() - start) / (len(body) / (1 << 20))
        if per_mib > worst:
            worst_name, worst = name, per_mib
    verdict = "within" if worst <= ADVERSARIAL_BOUND_S else "OVER"
    note = f"slowest: {worst_name}; {verdict} the {ADVERSARIAL_BOUND_S:.0f} s/MiB bound"
    if errors:
        note += "; RAISED on " + ", ".join(errors)
    return [
        [
            f"DLP adversarial inputs ({len(inputs)} kinds, ≈1 MiB each)",
            f"worst {worst * 1e3:.0f} ms/MiB",
            note,
        ]
    ]
