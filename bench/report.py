"""Render the benchmark results as markdown: the main side-by-side table, micro-benchmarks, the SSE ramp."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ramp import Level, capacity

RSS_FLAT_MIB = 5.0  # growth from 50k to 100k requests below this counts as flat


def med(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


def _num(x: float) -> str:
    if math.isnan(x):
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _ms(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1f}"


def _hey_stats(runs: list[Any]) -> tuple[float, float, float, float, int]:
    return (
        med([r.rps for r, _ in runs]),
        med([r.p50_ms for r, _ in runs]),
        med([r.p99_ms for r, _ in runs]),
        med([c for _, c in runs]),
        sum(r.bad for r, _ in runs),
    )


def _hey_cell(runs: list[Any] | None) -> str:
    if not runs:
        return "–"
    rps, p50, p99, cpu, bad = _hey_stats(runs)
    cell = f"**{_num(rps)}** req/s · {_ms(p50)} / {_ms(p99)} ms"
    cell += "" if math.isnan(cpu) else f" · CPU {cpu:.0%}"
    return cell + (f" · **{bad} failed**" if bad else "")


def _ratio(x: float, y: float) -> str:
    return "–" if math.isnan(x) or math.isnan(y) or not y else f"{x / y:.2f}×"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def chat_rows(res: dict[str, Any]) -> list[list[str]]:
    rows = []
    for conc in (1, 8, 32):
        runs = res.get(f"chat{conc}", {})
        if not runs:
            continue
        b, c = _hey_stats(runs.get("b", [])), _hey_stats(runs.get("c", []))
        vs = f"{_ratio(c[0], b[0])} req/s · p50 {c[1] - b[1]:+.1f} ms"
        if conc == 1:
            target = f"p50 +≤1 ms: {_verdict(c[1] - b[1] <= 1.0)}; ≥1.0×: {_verdict(c[0] >= b[0])}"
        else:
            target = f"≥1.0× (b): {_verdict(c[0] >= b[0])}"
        label = f"chat 4 KB → 1 KB JSON, keep-alive, {conc} client{'s' if conc > 1 else ''}"
        rows.append([label, *(_hey_cell(runs.get(k)) for k in ("a", "b", "c")), vs, target])
    return rows


def upload_row(res: dict[str, Any], dlp_on: bool) -> list[list[str]]:
    runs = res.get("upload")
    if not runs:
        return []
    b, c = _hey_stats(runs.get("b", [])), _hey_stats(runs.get("c", []))
    label = "1 MB JSON request body, 1 client" + (" (DLP on in c)" if dlp_on else " (no DLP stage yet)")
    vs = f"{_ratio(c[0], b[0])} req/s · p50 {c[1] - b[1]:+.1f} ms"
    return [[label, *(_hey_cell(runs.get(k)) for k in ("a", "b", "c")), vs, "–"]]


def sse_rows(res: dict[str, Any]) -> list[list[str]]:
    runs = res.get("sse")
    if not runs:
        return []
    first = {k: med([s[0] for s in v]) * 1e3 for k, v in runs.items()}
    total = {k: med([s[1] for s in v]) * 1e3 for k, v in runs.items()}
    b, c = first.get("b_stream", math.nan), first.get("c", math.nan)
    bt, ct = total.get("b_stream", math.nan), total.get("c", math.nan)
    return [
        ["SSE 200 events: time to first chunk (ms)", *(_num(first.get(k, math.nan)) for k in ("a", "b_stream", "c")),
         f"{c - b:+.2f} ms", f"within 2 ms of (b): {_verdict(c - b <= 2.0)}"],
        ["SSE 200 events: total time (ms)", *(_num(total.get(k, math.nan)) for k in ("a", "b_stream", "c")),
         f"{_ratio(ct, bt)} · {ct - bt:+.2f} ms", "–"],
    ]  # fmt: skip


def rss_points(res: dict[str, Any]) -> list[tuple[int, float]]:
    """(requests served, RSS MiB) at 50k and 100k, or, when the phase hit its time cap, at half and at the end."""
    samples = res.get("rss_samples", {}).get("c", [])
    if len(samples) < 2:
        return []
    end = samples[-1][0]
    wanted = [50_000, 100_000] if end >= 100_000 else [end // 2, end]
    return [min(samples, key=lambda s: abs(s[0] - w)) for w in wanted]


def rss_rows(res: dict[str, Any]) -> list[list[str]]:
    points = rss_points(res)
    if not points:
        return []
    capped = res.get("rss_capped")
    rows = []
    for n, mib in points:
        rows.append([f"proxy RSS after {n:,} requests", "–", "–", f"{mib:.0f} MiB", "–", "–"])
    growth = points[-1][1] - points[0][1]
    rows[-1][4] = f"growth {growth:+.1f} MiB"
    note = f" (RSS phase capped at {capped:.0f} s)" if capped else ""
    rows[-1][5] = f"flat (< {RSS_FLAT_MIB:.0f} MiB): {_verdict(growth < RSS_FLAT_MIB)}{note}"
    if res.get("rss_b"):
        rows[0][2] = f"{res['rss_b'][1]:.0f} MiB after {res['rss_b'][0]:,}"
    return rows


def ramp_row(ramps: dict[str, list[Level]]) -> list[list[str]]:
    if not ramps:
        return []
    cells = [capacity(ramps[k]) if k in ramps else "–" for k in ("a", "b_stream", "c")]
    return [["open SSE streams (20 events/s each) before first chunk doubles", *cells, "–", "(measured)"]]


def table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def main_table(res: dict[str, Any], ramps: dict[str, list[Level]], dlp_on: bool) -> str:
    header = ["scenario", "(a) direct", "(b) mitmdump", "(c) palaryn-proxy", "(c) vs (b)", "target"]
    rows = chat_rows(res) + upload_row(res, dlp_on) + sse_rows(res) + rss_rows(res) + ramp_row(ramps)
    return table(header, rows)


def ramp_table(ramps: dict[str, list[Level]]) -> str:
    levels = sorted({lv.streams for v in ramps.values() for lv in v})
    rows = []
    for n in levels:
        row = [str(n)]
        for key in ("a", "b_stream", "c"):
            lv = next((x for x in ramps.get(key, []) if x.streams == n), None)
            cpu = "" if lv is None or math.isnan(lv.cpu) else f" · CPU {lv.cpu:.0%}"
            row.append("–" if lv is None else f"{lv.ttfc_ms:.2f} ms · {lv.events_per_s:,.0f} ev/s{cpu}"
                       + (f" · {lv.stalled} failed" if lv.stalled else ""))  # fmt: skip
        rows.append(row)
    header = ["open streams", "(a) direct", "(b) mitmdump + streaming", "(c) palaryn-proxy"]
    return table(header, rows)


def micro_table(rows: list[list[str]]) -> str:
    return table(["micro-benchmark", "result", "notes"], rows)


def events_table(res: dict[str, Any]) -> str:
    """(c) as configured (event store on) against (c) with `events.enabled: false`, interleaved."""
    rows = []
    for conc in (1, 8, 32):
        runs = res.get(f"events-chat{conc}", {})
        if not runs:
            continue
        on, off = (_hey_stats(runs.get(k, [])) for k in ("c", "c_noev"))
        rows.append([f"chat, {conc} client{'s' if conc > 1 else ''}", _hey_cell(runs.get("c")),
                     _hey_cell(runs.get("c_noev")), f"{on[0] / off[0] - 1:+.1%} req/s · p50 {on[1] - off[1]:+.2f} ms"
                     if off[0] else "n/a"])  # fmt: skip
    return table(["scenario", "(c) events on", "(c) events off", "on vs off"], rows)


def ab_table(res: dict[str, Any], label: str) -> str:
    """(b), (c) and a patched (c′) under keep-alive chat, with (c′)/(c) and (c′)/(b)."""
    rows = []
    for conc in (1, 8, 32):
        runs = res.get(f"chat{conc}", {})
        if not runs:
            continue
        b, c, c2 = (_hey_stats(runs.get(k, [])) for k in ("b", "c", "c2"))
        rows.append([f"chat, {conc} client{'s' if conc > 1 else ''}", *(_hey_cell(runs.get(k)) for k in ("b", "c", "c2")),
                     f"{_ratio(c2[0], c[0])} req/s · p50 {c2[1] - c[1]:+.1f} ms", _ratio(c2[0], b[0])])  # fmt: skip
    return f"(c′) = {label}\n\n" + table(["scenario", "(b) mitmdump", "(c) palaryn-proxy", "(c′) patched",
                                            "(c′) vs (c)", "(c′) vs (b)"], rows)  # fmt: skip
