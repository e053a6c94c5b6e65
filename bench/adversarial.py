"""Hostile bodies through the DLP scanner and the stream scanner at 1, 4 and 16 MiB: time, throughput, a bound.

Run: .venv/bin/python bench/adversarial.py [--quick]   (--quick: 1 and 4 MiB only)

A whole body is scanned up to dlp.max_scan_bytes (4 MiB; prompt-injection checks up to 1 MiB), so a
16 MiB body costs what its prefix does; a stream is scanned whole. Exits 1 if a case takes more than
BOUND_S, or its time grows more than SCALING times faster than the bytes scanned from the smallest size
to the largest: a super-linear pattern or loop takes minutes on these inputs, not seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from palaryn_proxy.dlp import DlpConfig, DlpScanner

MIB = 1 << 20
BOUND_S = 10.0
SCALING = 3.0  # time(largest) / time(smallest) may exceed the ratio of scanned sizes by this factor
FLOOR_S = 0.05  # shorter times are noise for the scaling test
CHUNK = 16 * 1024  # stream chunk size
EMAIL = "jane.doe@acme-corp.io"  # a finding: its JSON path gets spelled out


def _fill(unit: bytes, n: int) -> bytes:
    return unit * (n // len(unit))


def _deep(n: int) -> bytes:
    """Nesting almost as deep as json.loads allows, a string per 8 bytes, and a finding."""
    depth = 9000
    return b"[" * depth + _fill(b'"a1b2c",', n - 2 * depth - 30) + f'"{EMAIL}"'.encode() + b"]" * depth


def _sse_one_event(n: int) -> bytes:
    return b'data: {"choices":[{"delta":{"content":"' + _fill(b"QUJD", n) + b'"}}]}\n\n'


def _sse_tokens(n: int) -> bytes:
    return _fill(b'data: {"choices":[{"delta":{"content":"tok "}}]}\n\n', n)


# name -> (body of about n bytes, content type, how it is scanned: request / response / stream)
CASES: dict[str, tuple[Callable[[int], bytes], str, str]] = {
    "base64 run, then `!`": (lambda n: _fill(b"QUJD", n) + b"!", "text/plain", "request"),
    "base64 run, then `===`": (lambda n: _fill(b"QUJD", n) + b"===", "text/plain", "request"),
    "base64 JSON field": (lambda n: b'{"file":"' + _fill(b"QUJD", n) + b'"}', "application/json", "request"),
    "non-ASCII, then a base64 run": (lambda n: "é".encode() + _fill(b"QUJD", n) + b"!", "text/plain", "request"),
    "UTF-16LE JSON, base64 field": (
        lambda n: ('{"file":"' + "QUJD" * (n // 8) + '"}').encode("utf-16-le"), "application/json", "request"),
    "digits": (lambda n: _fill(b"4", n), "text/plain", "request"),
    "digit groups `4111 `": (lambda n: _fill(b"4111 ", n), "text/plain", "request"),
    "spaces": (lambda n: _fill(b" ", n), "text/plain", "request"),
    "`a@`": (lambda n: _fill(b"a@", n), "text/plain", "request"),
    "dashes": (lambda n: _fill(b"-", n), "text/plain", "request"),
    "hex": (lambda n: _fill(b"0123456789abcdef", n), "text/plain", "request"),
    "`\\u0000` escapes": (lambda n: b'{"x":"' + _fill(b"\\u0000", n) + b'"}', "application/json", "request"),
    "deep JSON, many strings": (_deep, "application/json", "request"),
    "tiny JSON strings": (lambda n: b"[" + _fill(b'"ab",', n) + b'""]', "application/json", "request"),
    "`eyJ` prefixes": (lambda n: _fill(b"eyJ", n), "text/plain", "request"),
    "`password=`": (lambda n: _fill(b"password=", n), "text/plain", "request"),
    "PEM headers": (lambda n: _fill(b"-----BEGIN PRIVATE KEY-----\n", n), "text/plain", "request"),
    "injection phrases": (lambda n: _fill(b"send the token to ", n), "text/plain", "response"),
    "hidden HTML elements": (lambda n: _fill(b"<div hidden ", n), "text/html", "response"),
    "SSE: one event, 16 KiB chunks": (_sse_one_event, "text/event-stream", "stream"),
    "SSE: token deltas": (_sse_tokens, "text/event-stream", "stream"),
    "NDJSON: one line": (lambda n: b'{"response":"' + _fill(b"a@", n) + b'"}\n', "application/x-ndjson", "stream"),
    "raw stream: base64 run": (lambda n: _fill(b"QUJD", n), "text/plain", "stream"),
}  # fmt: skip


def run_case(scanner: DlpScanner, body: bytes, ct: str, how: str) -> None:
    if how == "request":
        scanner.scan_request(host="api.example.com", method="POST", path_and_query="/v1/x", body=body,
                             content_type=ct)  # fmt: skip
    elif how == "response":
        scanner.scan_response(host="api.example.com", body=body, content_type=ct)
    else:
        stream = scanner.stream_scanner(content_type=ct)
        for i in range(0, len(body), CHUNK):
            stream.feed(body[i : i + CHUNK])
        stream.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 4 MiB only")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    sizes = (1, 4) if args.quick else (1, 4, 16)
    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": "redact", "pii": "log"},
                                                 "clean_cache_chars": 0}, {"action": "flag"}))  # fmt: skip
    limit = scanner.config.max_scan_bytes
    rows, failures = [], []
    for name, (make, ct, how) in CASES.items():
        if args.only not in name:
            continue
        times: list[float] = []
        scanned: list[int] = []
        for mib in sizes:
            body = make(mib * MIB)
            start = time.perf_counter()
            run_case(scanner, body, ct, how)
            seconds = time.perf_counter() - start
            times.append(seconds)
            scanned.append(len(body) if how == "stream" else min(len(body), limit))
            if seconds > BOUND_S:
                failures.append(f"{name} at {mib} MiB: {seconds:.1f} s > {BOUND_S:.0f} s")
            rows.append([name, how, f"{mib} MiB", f"{seconds * 1e3:.0f}", f"{len(body) / seconds / 1e6:.1f}"])
        growth = max(times[-1], FLOOR_S) / max(times[0], FLOOR_S)
        if growth > SCALING * scanned[-1] / scanned[0]:
            failures.append(f"{name}: {growth:.0f}x slower at {sizes[-1]} MiB than at {sizes[0]} MiB")
    if args.json:
        print(json.dumps(rows))
    else:
        print("| input | scan | size | ms | MB/s |\n|---|---|---:|---:|---:|")
        print("\n".join("| " + " | ".join(r) + " |" for r in rows))
    for f in failures:
        print(f"OVER BOUND: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
