"""Anomaly detection benchmarks: detector throughput and memory with 10,000 active entities, and the cost of
persisting its baselines (export on the event loop, encode off it, size, restore at start-up).

Run: python anomalybench.py [--quick]; `bench_anomaly_stage()` returns rows of [benchmark, result, note].
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc
from decimal import Decimal

from palaryn_proxy.anomaly import AnomalyConfig, AnomalyDetector
from palaryn_proxy.anomaly.store import EXPORT_PART, AnomalyStore, decode, encode
from palaryn_proxy.storage import open_storage

Row = list[str]
ACTORS = 10_000
T0 = 1_700_000_000.0


def observe(det: AnomalyDetector, i: int, now: float) -> None:
    """One request and its response, as the stage feeds them: actor, its host and its workspace."""
    actor, tool, workspace = f"agent-{i % ACTORS}", f"api-{i % 200}.example.com", f"ws-{i % 100}"
    det.before_request(actor=actor, workspace=workspace, tool=tool, capability="write", method="POST",
                       url=f"https://{tool}/v1/x", body_hash=f"{i % 977:064x}", request_bytes=4096, now=now)  # fmt: skip
    det.after_response(actor=actor, workspace=workspace, tool=tool, status=200, latency_s=0.2,
                       response_bytes=1024, tokens=1170, cost_usd=Decimal("0.0012"), now=now)  # fmt: skip


def warmed(rounds: int) -> AnomalyDetector:
    """A detector whose 10,000 actors each have `rounds` observations spread over the window."""
    det = AnomalyDetector(AnomalyConfig())
    for r in range(rounds):
        for i in range(ACTORS):
            observe(det, i, T0 + r * 300 + i * 0.01)
    return det


def bench_throughput(scale: float) -> list[Row]:
    gc.collect()
    tracemalloc.start()
    det = warmed(1)
    memory = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    count = int(100_000 * scale)
    start = time.perf_counter()
    for i in range(count):
        observe(det, i * 7919, T0 + 300 + i * 0.003)
    pairs = count / (time.perf_counter() - start)
    return [
        [f"anomaly detector, {det.entity_count:,} entities", f"{pairs:,.0f} requests/s",
         "one request = before_request + after_response over actor, tool and workspace (6 observations)"],
        [f"anomaly detector memory, {det.entity_count:,} entities", f"{memory / 2**20:.1f} MiB",
         f"{memory / det.entity_count / 1024:.1f} KiB per entity (tracemalloc)"],
    ]  # fmt: skip


def bench_persistence() -> list[Row]:
    det = warmed(3)
    start = time.perf_counter()
    state, parts = det.export_parts(EXPORT_PART)
    step_s = time.perf_counter() - start
    for part in parts:
        begin = time.perf_counter()
        state["entities"].extend(part)
        step_s = max(step_s, time.perf_counter() - begin)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    text = encode(state)
    encode_s = time.perf_counter() - start
    raw = len(json.dumps(state, separators=(",", ":")))

    async def restore() -> float:
        storage = open_storage("memory://")
        await AnomalyStore(storage, det.config, "bench:1").save(det)
        begin = time.perf_counter()
        await AnomalyStore(storage, det.config, "bench:2").load()
        return time.perf_counter() - begin

    restore_s = asyncio.run(restore())
    assert len(decode(text)["entities"]) == det.entity_count
    return [
        ["anomaly snapshot export (on the event loop)", f"{export_s * 1000:.0f} ms",
         f"{det.entity_count:,} entities once per persist_interval_seconds; longest step {step_s * 1000:.1f} ms"],
        ["anomaly snapshot encode (worker thread)", f"{encode_s * 1000:.0f} ms",
         f"{len(text) / 2**20:.2f} MiB stored (JSON would be {raw / 2**20:.1f} MiB)"],
        ["anomaly baselines restore (worker thread)", f"{restore_s:.2f} s", "read, decode and merge, at start-up"],
    ]  # fmt: skip


def bench_anomaly_stage(quick: bool = False) -> list[Row]:
    return bench_throughput(0.3 if quick else 1.0) + bench_persistence()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    for row in bench_anomaly_stage(ap.parse_args().quick):
        print(f"{row[0]:<55} {row[1]:>18}  {row[2]}")
