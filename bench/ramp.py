"""How many open SSE streams one proxy process carries before a new stream's first chunk takes twice as long.

Background streams: 200 events 50 ms apart (20 events/s each, like a model streaming tokens), restarted on
their keep-alive connection when they end. At each level a probe connection times the first chunk of
`probes` short streams (median). The ramp stops after the first level whose median is ≥ 2× the lowest
median seen so far (the unloaded baseline; on a shared host noise only ever adds).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from sseclient import Connection
from targets import Target, cpu_seconds

LEVELS = (1, 10, 50, 100, 200, 400, 800)
EVENT_INTERVAL_MS = 50


@dataclass
class Level:
    streams: int
    ttfc_ms: float  # probe median
    cpu: float  # proxy CPU over the probe window (1.0 = one core)
    stalled: int  # background streams that failed so far
    events_per_s: float


class Ramp:
    def __init__(self, target: Target, port: int) -> None:
        self.target, self.port = target, port
        self.tasks: list[asyncio.Task[None]] = []
        self.failed = 0
        self.conns: list[Connection] = []
        self.stop = asyncio.Event()

    async def background(self, i: int) -> None:
        try:
            conn = await Connection.open(self.port, self.target.proxy)
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            self.failed += 1
            return
        self.conns.append(conn)
        try:
            while not self.stop.is_set():
                timing = await conn.stream(200, EVENT_INTERVAL_MS)
                if not timing.complete:
                    self.failed += 1
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            self.failed += 1
        finally:
            conn.close()

    def chunks(self) -> int:
        return sum(c.chunks for c in self.conns)

    async def grow(self, n: int) -> None:
        while len(self.tasks) < n:
            self.tasks.append(asyncio.create_task(self.background(len(self.tasks))))
            await asyncio.sleep(0.004)  # spread the handshakes and the streams' phases

    async def probe(self, conn: Connection, probes: int) -> tuple[float, float]:
        pid = self.target.pid
        cpu0, wall0 = (cpu_seconds(pid) if pid else 0.0), time.monotonic()
        samples = []
        for _ in range(probes):
            samples.append((await conn.stream(5)).ttfc)
            await asyncio.sleep(0.03)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) if pid else float("nan")
        return statistics.median(samples) * 1e3, cpu

    async def run(self, levels: tuple[int, ...], probes: int, settle: float) -> list[Level]:
        conn = await Connection.open(self.port, self.target.proxy)
        out: list[Level] = []
        try:
            for _ in range(3):
                await conn.stream(5)
            for level in levels:
                await self.grow(level)
                await asyncio.sleep(settle)
                events0, t0 = self.chunks(), time.monotonic()
                ttfc, cpu = await self.probe(conn, probes * 2 if not out else probes)  # a firm baseline
                rate = (self.chunks() - events0) / (time.monotonic() - t0)
                out.append(Level(level, ttfc, cpu, self.failed, rate))
                if ttfc >= 2 * baseline(out) or self.failed > level // 10 + 1:
                    break
        finally:
            self.stop.set()
            conn.close()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        return out


def run_ramp(target: Target, port: int, levels: tuple[int, ...] = LEVELS, probes: int = 15) -> list[Level]:
    settle = 2.0
    return asyncio.run(Ramp(target, port).run(levels, probes, settle))


def baseline(levels: list[Level]) -> float:
    """The unloaded first-chunk time: the lowest level median so far (noise on a shared host only adds)."""
    return min(lv.ttfc_ms for lv in levels)


def capacity(levels: list[Level]) -> str:
    """The largest level whose first-chunk median stayed under twice the baseline."""
    if not levels:
        return "n/a"
    base = baseline(levels)
    ok = [lv.streams for lv in levels if lv.ttfc_ms < 2 * base and lv.stalled <= lv.streams // 10 + 1]
    best = max(ok) if ok else 0
    if levels[-1].ttfc_ms < 2 * base and levels[-1].streams == best:
        return f"≥ {best}"
    return f"{best}"
