"""Injection classifier (injection.model) latency per 512-token window: the tiny model the tests build and, when
PALARYN_BENCH_INJECTION_MODEL names one, a real model (a Prompt Guard 2 or DeBERTa ONNX export) loaded the way
the proxy loads it (one session, one intra-op thread per run).

Run alone: python mlbench.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from micro import Row
from payloads import prose

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "engine" / "dlp"))

ENV = "PALARYN_BENCH_INJECTION_MODEL"
TOKENS = 512
BATCH = 8  # windows of one long text, run as one batch (what a 4096-token tool result costs)


def bench_model(scale: float) -> list[Row]:
    try:
        import tinymodel

        from palaryn_proxy.dlp import DlpConfig
    except ImportError as exc:
        return [["Injection model", "skipped", f"the [ml] extra and onnx are needed ({exc})"]]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = tinymodel.build(Path(tmp), layout="dir", token_type_ids=True)
        rows += _rows("tiny test model", DlpConfig.from_mapping({}, {"model": str(tiny)}), scale)
    real = os.environ.get(ENV)
    if real:
        rows += _rows(Path(real).name, DlpConfig.from_mapping({}, {"model": real}), scale)
    else:
        rows.append(["Injection model, a real one", "not run", f"set {ENV}=PATH (a .onnx file or directory)"])
    return rows


def _rows(name: str, config: object, scale: float) -> list[Row]:
    classifier = config.injection.classifier  # type: ignore[attr-defined]
    text = prose(TOKENS * BATCH * 6)  # more than BATCH windows of English prose
    windows = classifier.windows(text)[:BATCH]
    one = [max(windows, key=lambda w: len(w[0]))]
    single = _samples(lambda: classifier.probabilities(one), int(200 * scale) + 20)
    runs = _samples(lambda: classifier.probabilities(windows), int(40 * scale) + 5)
    batched = [t / len(windows) for t in runs]
    tokenise = statistics.median(_samples(lambda: classifier.windows(text), 10))
    return [
        [f"Injection model ({name}), one {len(one[0][0])}-token window", f"p50 {_ms(single, 50)}",
         f"p95 {_ms(single, 95)}; inference on 1 thread, as each of injection.model_threads runs it"],
        [f"Injection model ({name}), {len(windows)} windows in one batch", f"p50 {_ms(batched, 50)} per window",
         f"p95 {_ms(batched, 95)} per window; tokenising {len(text) // 1024} KiB into windows: "
         f"{tokenise * 1e3:.1f} ms"],
    ]  # fmt: skip


def _samples(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _ms(samples: list[float], pct: int) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] * 1e3:.2f} ms"


if __name__ == "__main__":
    for row in bench_model(0.2 if "--quick" in sys.argv else 1.0):
        print(" | ".join(row))
