"""Micro-benchmarks of the engine parts on the hot path; prints a JSON list of [benchmark, result, note] rows.

Run: python micro.py [--redis-url redis://127.0.0.1:PORT/0] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from payloads import MODEL, chat_request, prose, sse_event, sse_tail

Row = list[str]
SCALE = 1.0  # --quick shortens every timed loop


def per_call(fn: Callable[[], object], min_seconds: float = 0.5) -> float:
    """Seconds per call of `fn`, repeated for at least min_seconds (best of 3 rounds)."""
    fn()
    best = float("inf")
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds * SCALE / 3:
                break
        best = min(best, elapsed / n)
    return best


def bench_parser() -> list[Row]:
    from palaryn_proxy.providers import ProviderRegistry

    adapter = ProviderRegistry().adapter("openai")
    req = adapter.parse_request("POST", "/v1/chat/completions", {}, {}, chat_request(stream=True))
    assert req is not None
    events = [sse_event(i) for i in range(200)] + [sse_tail(200)]

    def one_stream() -> None:
        parser = adapter.stream_parser(req, "text/event-stream")
        assert parser is not None
        for event in events:
            parser.feed(event)
        parser.finish()

    per_event = per_call(one_stream) / len(events)
    body = b"".join(sse_event(i) for i in range(6000)) + sse_tail(6000)
    chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)]

    def one_mb() -> None:
        parser = adapter.stream_parser(req, "text/event-stream")
        assert parser is not None
        for chunk in chunks:
            parser.feed(chunk)
        parser.finish()

    per_mb = per_call(one_mb) / (len(body) / 1e6)
    return [
        [
            "stream parser (openai SSE), per event",
            f"{per_event * 1e6:.1f} µs",
            "200-event stream, one event per feed",
        ],
        [
            "stream parser (openai SSE), per MB",
            f"{per_mb * 1e3:.1f} ms",
            "≈1 MB of chunks fed 16 KiB at a time",
        ],
    ]


def bench_tokens() -> list[Row]:
    from palaryn_proxy.usage import tokens

    text = prose(505_000)
    start = time.perf_counter()
    tokens.get_encoding(tokens.encoding_for_model(MODEL).name)
    load = time.perf_counter() - start
    n = tokens.count_tokens(text, MODEL)
    sampled = per_call(lambda: tokens.count_tokens(text, MODEL), 1.0)
    encoder = tokens.get_encoding(tokens.encoding_for_model(MODEL).name)
    exact = per_call(lambda: encoder.encode_ordinary(text), 1.0)
    small = per_call(lambda: tokens.count_tokens(text[:4000], MODEL), 0.3)
    return [
        ["estimate 100k-token prompt (count_tokens)", f"{sampled * 1e3:.2f} ms", f"{n:,} tokens, {len(text):,} chars, sampled windows"],
        ["exact encode of the same prompt", f"{exact * 1e3:.1f} ms", f"o200k_base; encoder load {load * 1e3:.0f} ms once"],
        ["estimate 4 KB prompt", f"{small * 1e6:.0f} µs", "exact below the sampling threshold"],
    ]  # fmt: skip


def _budget_config() -> dict[str, Any]:
    return {
        "budgets": [
            {"name": "team-daily", "scope": "workspace", "period": "day", "limit_usd": 1e6},
            {"name": "per-agent", "scope": "actor", "period": "hour", "limit_usd": 1e6},
            {"name": "org-month", "scope": "global", "period": "month", "limit_usd": 5e6},
        ],
        "timezone": "UTC",
    }


async def _storage_run(url: str, callers: int, seconds: float) -> tuple[float, float, float]:
    from palaryn_proxy.budget import BudgetEngine, parse_budget_config
    from palaryn_proxy.storage import open_storage
    from palaryn_proxy.types import Identity

    storage = open_storage(url, key_prefix=f"bench{time.time_ns()}:")
    engine = BudgetEngine(parse_budget_config(_budget_config()), storage)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def caller(i: int) -> None:
        identity = Identity(f"agent-{i}", "research-bench")
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            held = await engine.reserve(identity, Decimal("0.0021"), 1500)
            await engine.settle(held, Decimal("0.0012"), 1170)  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - start)

    try:
        await caller(0)  # warm-up (connections, prepared scripts)
        latencies.clear()
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        wall = time.perf_counter() - start
    finally:
        await storage.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return len(latencies) / wall, statistics.median(latencies), p99


def bench_storage(redis_url: str | None) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        urls = [
            ("SQLite write-behind (the proxy's default)", f"sqlite:///{Path(tmp) / 'bench.db'}"),
            ("SQLite write-through", f"sqlite:///{Path(tmp) / 'through.db'}?write_behind_ms=0"),
        ]
        urls += [("Redis", redis_url)] if redis_url else []
        for name, url in urls:
            for callers in (1, 8):
                ops, p50, p99 = asyncio.run(_storage_run(url, callers, 2.0 * SCALE))
                rows.append([
                    f"budget reserve+settle, {name}, {callers} caller{'s' if callers > 1 else ''}",
                    f"{ops:,.0f} ops/s",
                    f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms (3 budgets per call)",
                ])  # fmt: skip
    if not redis_url:
        rows.append(["budget reserve+settle, Redis", "skipped", "no redis-server"])
    return rows


def _observe(det: Any, i: int, now: float) -> None:
    actor = f"agent-{i % 10_000}"
    tool = f"tool-{i % 50}"
    workspace = f"ws-{i % 100}"
    det.before_request(actor=actor, workspace=workspace, tool=tool, capability="write", method="POST",
                       url=f"https://api.example.com/v1/{tool}", body_hash=str(i % 977), request_bytes=4096, now=now)  # fmt: skip
    det.after_response(actor=actor, workspace=workspace, tool=tool, status=200, latency_s=0.2,
                       response_bytes=1024, tokens=1170, cost_usd=Decimal("0.0012"), now=now)  # fmt: skip


def bench_anomaly() -> list[Row]:
    from palaryn_proxy.anomaly import AnomalyConfig, AnomalyDetector

    config = AnomalyConfig.from_mapping({"enabled": True})
    gc.collect()
    tracemalloc.start()
    det = AnomalyDetector(config)
    now = time.time()
    for i in range(10_000):
        _observe(det, i, now)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    count = int(20_000 * SCALE)
    start = time.perf_counter()
    for i in range(count):
        _observe(det, i * 7919, now + i * 0.01)
    rate = count / (time.perf_counter() - start)
    return [
        ["anomaly detector, 10,000 actors (+50 tools, 100 workspaces)", f"{rate:,.0f} obs/s",
         "one observation = before_request + after_response"],
        ["anomaly detector memory, 10,000 actors", f"{memory / 2**20:.1f} MiB",
         f"{det.entity_count} entities (tracemalloc)"],
    ]  # fmt: skip


def main() -> None:
    global SCALE
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis-url")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    SCALE = 0.3 if args.quick else 1.0
    rows: list[Row] = []
    for name, fn in (
        ("parser", bench_parser),
        ("tokens", bench_tokens),
        ("storage", lambda: bench_storage(args.redis_url)),
        ("anomaly", anomaly_rows),
        ("dlp", dlp_rows),
        ("injection model", model_rows),
    ):
        try:
            rows += fn()
        except Exception as exc:  # a broken part must not hide the others' figures
            rows.append([name, "failed", f"{type(exc).__name__}: {exc}"[:160]])
    json.dump(rows, sys.stdout)


def anomaly_rows() -> list[Row]:
    """anomalybench.py (the anomaly stage's own figures, persistence included) when it loads, else ours."""
    try:
        import anomalybench
    except ImportError:
        return bench_anomaly()
    return anomalybench.bench_anomaly_stage(quick=SCALE < 1.0)


def dlp_rows() -> list[Row]:
    try:
        import dlpbench
    except ImportError as exc:
        return [["DLP scan", "skipped", f"palaryn_proxy.dlp not available ({exc})"]]
    return dlpbench.bench_dlp(SCALE)


def model_rows() -> list[Row]:
    """The optional ONNX injection classifier (mlbench.py): latency per 512-token window."""
    import mlbench

    return mlbench.bench_model(SCALE)


if __name__ == "__main__":
    main()
