"""`hey` as the load generator (CONNECT through an HTTP proxy, keep-alive), pinned to the load core."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from servers import LOAD_CPU

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_PCT = re.compile(r"(\d+)% in ([\d.]+) secs")
_STATUS = re.compile(r"\[(\d{3})\]\s+(\d+) responses")
_ERRORS = re.compile(r"^\s+\[(\d+)\]\s+(.+)$", re.M)


@dataclass
class HeyResult:
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int  # 2xx responses
    bad: int  # other statuses and transport errors
    note: str = ""


def parse_hey(text: str) -> HeyResult:
    rps = _RPS.search(text)
    pct = {int(p): float(s) * 1000 for p, s in _PCT.findall(text)}
    statuses = {int(code): int(n) for code, n in _STATUS.findall(text)}
    ok = sum(n for code, n in statuses.items() if 200 <= code < 300)
    bad = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    note = ""
    if "Error distribution" in text:
        tail = text.split("Error distribution:", 1)[1]
        errors = _ERRORS.findall(tail)
        bad += sum(int(n) for n, _ in errors)
        note = errors[0][1][:120] if errors else ""
    if bad and not note:
        note = "statuses " + ", ".join(f"{c}x{n}" for c, n in sorted(statuses.items()) if c != 200)
    return HeyResult(
        float(rps.group(1)) if rps else 0.0,
        pct.get(50, float("nan")),
        pct.get(99, float("nan")),
        ok,
        bad,
        note,
    )


def hey(
    url: str,
    body: Path,
    concurrency: int,
    *,
    proxy: str | None,
    seconds: float | None = None,
    requests: int | None = None,
) -> HeyResult:
    """POST `body` (application/json) to `url` with `concurrency` keep-alive workers for a duration or a count."""
    argv = ["taskset", "-c", LOAD_CPU, "hey", "-cpus", "1", "-c", str(concurrency), "-t", "30"]
    argv += ["-z", f"{seconds}s"] if seconds is not None else ["-n", str(requests)]
    argv += ["-m", "POST", "-T", "application/json", "-D", str(body)]
    if proxy:
        argv += ["-x", proxy]
    timeout = (seconds or 0) + 120 + (requests or 0) / 50
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=timeout)
    result = parse_hey(out.stdout)
    if out.returncode != 0 and not result.note:
        result.note = (out.stderr or out.stdout).strip()[:120]
    return result
