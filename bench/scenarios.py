"""The load scenarios of `make bench`: keep-alive chat, 1 MB bodies, SSE timing, the SSE ramp and RSS."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen import HeyResult, hey
from sseclient import Connection
from targets import Target, cpu_seconds, rss_mib


@dataclass
class Bench:
    """Everything a scenario needs: where the upstreams are, the bodies, the targets, and the results."""

    nginx_port: int
    sse_port: int
    chat_body: Path
    upload_body: Path
    targets: dict[str, Target]
    seconds: float
    reps: int
    results: dict[str, Any] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # requests each proxy has answered so far

    @property
    def chat_url(self) -> str:
        return f"https://127.0.0.1:{self.nginx_port}/v1/chat/completions"

    def add(self, scenario: str, key: str, value: Any) -> None:
        self.results.setdefault(scenario, {}).setdefault(key, []).append(value)

    def count(self, key: str, n: int) -> None:
        self.served[key] = self.served.get(key, 0) + n


def log(msg: str) -> None:
    print(f"bench: {msg}", flush=True)


def measured_hey(b: Bench, t: Target, url: str, body: Path, conc: int, **kw: Any) -> tuple[HeyResult, float]:
    """Run hey through target `t`; returns the result and the proxy's CPU use (1.0 = one core)."""
    cpu0, wall0 = (cpu_seconds(t.pid), time.monotonic()) if t.pid else (0.0, time.monotonic())
    result = hey(url, body, conc, proxy=t.proxy, **kw)
    cpu = (cpu_seconds(t.pid) - cpu0) / (time.monotonic() - wall0) if t.pid else float("nan")
    b.count(t.key, result.ok + result.bad)
    if result.bad:
        log(f"  {t.key}: {result.bad} failed requests ({result.note})")
    return result, cpu


def chat(
    b: Bench, keys: list[str], concurrency: tuple[int, ...] = (1, 8, 32), scenario: str = "chat"
) -> None:
    """Keep-alive 4 KB chat POSTs; repetitions interleaved across targets, target order rotated."""
    for rep in range(b.reps):
        order = keys[rep % len(keys) :] + keys[: rep % len(keys)]
        for conc in concurrency:
            for key in order:
                res, cpu = measured_hey(b, b.targets[key], b.chat_url, b.chat_body, conc, seconds=b.seconds)
                b.add(f"{scenario}{conc}", key, (res, cpu))
                log(f"chat c={conc:<2} rep {rep + 1} {key:<3} {res.rps:8.1f} req/s p50 {res.p50_ms:.1f} ms "
                    f"p99 {res.p99_ms:.1f} ms cpu {cpu:.0%}")  # fmt: skip


def upload(b: Bench, keys: list[str]) -> None:
    """1 MB JSON bodies from one client (DLP scans them in (c) when the stage exists)."""
    url = f"https://127.0.0.1:{b.nginx_port}/upload"
    for rep in range(b.reps):
        for key in keys:
            res, cpu = measured_hey(
                b, b.targets[key], url, b.upload_body, 1, seconds=max(2.0, b.seconds * 0.75)
            )
            b.add("upload", key, (res, cpu))
            log(f"upload 1 MB rep {rep + 1} {key:<3} {res.rps:7.1f} req/s p50 {res.p50_ms:.1f} ms")


async def _sse_single(t: Target, port: int, streams: int) -> list[tuple[float, float]]:
    conn = await Connection.open(port, t.proxy)
    try:
        for _ in range(5):
            await conn.stream(200)
        out = []
        for _ in range(streams):
            timing = await conn.stream(200)
            if not timing.complete:
                raise RuntimeError(f"{t.key}: SSE stream incomplete")
            out.append((timing.ttfc, timing.total))
        return out
    finally:
        conn.close()


def sse_single(b: Bench, keys: list[str], streams: int = 40) -> None:
    """One stream of 200 events at a time over a keep-alive connection: first chunk and total time."""
    for rep in range(b.reps):
        for key in keys:
            samples = asyncio.run(_sse_single(b.targets[key], b.sse_port, streams))
            b.count(key, streams + 5)
            ttfc = statistics.median(s[0] for s in samples)
            total = statistics.median(s[1] for s in samples)
            b.add("sse", key, (ttfc, total))
            log(
                f"sse 200 events rep {rep + 1} {key:<8} first chunk {ttfc * 1e3:.2f} ms total {total * 1e3:.2f} ms"
            )


def rss(b: Bench, key: str, marks: tuple[int, ...], cap_s: float, conc: int = 8) -> None:
    """Drive `key`'s proxy to each request count in `marks`, reading its RSS along the way; stop at `cap_s`
    seconds (a slow proxy would otherwise take most of an hour) and keep the samples reached."""
    t = b.targets[key]
    assert t.pid is not None
    samples = [(b.served.get(key, 0), rss_mib(t.pid))]
    start, rate = time.monotonic(), 200.0
    for mark in marks:
        while b.served.get(key, 0) < mark:
            if time.monotonic() - start > cap_s:
                b.results["rss_capped"] = cap_s
                log(f"rss: {key} stopped at {b.served.get(key, 0):,} requests: the {cap_s:.0f} s cap")
                b.results.setdefault("rss_samples", {})[key] = samples
                return
            # hey refuses fewer requests than clients: the last batch may overshoot the mark by < conc
            n = max(conc, min(mark - b.served.get(key, 0), max(1000, int(rate * 20))))
            began = time.monotonic()
            measured_hey(b, t, b.chat_url, b.chat_body, conc, requests=n)
            rate = n / max(time.monotonic() - began, 1e-3)
            samples.append((b.served[key], rss_mib(t.pid)))
            log(f"rss: {key} at {b.served[key]:,} requests: {samples[-1][1]:.1f} MiB ({rate:.0f} req/s)")
        log(f"rss: {key} after {b.served[key]:,} requests: {samples[-1][1]:.1f} MiB ({rate:.0f} req/s)")
    b.results.setdefault("rss_samples", {})[key] = samples
