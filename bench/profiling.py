"""Sample a running proxy with py-spy and summarise where its CPU goes (self and inclusive, per function)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, native: bool = False) -> subprocess.Popen[bytes] | None:
    """Start py-spy on `pid` for `seconds` (collapsed stacks in `out`); None when py-spy is missing."""
    exe = py_spy()
    if exe is None:
        return None
    argv = [exe, "record", "--pid", str(pid), "--rate", "250", "--duration", str(int(seconds))]
    argv += ["--format", "raw", "--output", str(out)]
    argv.append("--native" if native else "--nonblocking")  # native frames need the process paused
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{m.group('func')}"


def area(frame: str) -> str:
    """A coarse owner of a frame: ours (engine / addons), mitmproxy, TLS, asyncio, sqlite, other."""
    if "palaryn_proxy/" in frame or frame.startswith("addons/"):
        return "palaryn-proxy (engine + addons)"
    if "mitmproxy/" in frame:
        return "mitmproxy"
    for key, name in (("ssl", "TLS (ssl, OpenSSL)"), ("asyncio", "asyncio"), ("sqlite", "sqlite3")):
        if key in frame.lower():
            return name
    return "other"


def summarise(raw: Path, top: int = 25) -> str:
    """Markdown: samples per area (by leaf), top self-time frames and top inclusive palaryn functions."""
    own, incl, areas, total = Counter[str](), Counter[str](), Counter[str](), 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            incl[frame] += count
        ours = next((f for f in reversed(frames) if area(f).startswith("palaryn")), None)
        areas[area(ours) if ours else area(frames[-1])] += count
    if not total:
        return "(no samples)"
    out = [f"{total} samples. CPU by owner (innermost palaryn frame wins, else the leaf):", ""]
    out += [f"- {name}: {n / total:.0%}" for name, n in areas.most_common()]
    out += ["", "| self % | frame |", "|---:|---|"]
    out += [f"| {n / total:.1%} | `{f}` |" for f, n in own.most_common(top)]
    ours = [(f, n) for f, n in incl.most_common() if area(f).startswith("palaryn")][:top]
    out += ["", "| inclusive % | palaryn-proxy function |", "|---:|---|"]
    out += [f"| {n / total:.1%} | `{f}` |" for f, n in ours]
    return "\n".join(out)
