"""`make bench`: (a) direct, (b) bare mitmdump and (c) palaryn-proxy side by side on this machine; one table.

Usage: .venv/bin/python bench/run.py [--quick] [--profile] [--seconds S] [--reps N] [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import payloads  # noqa: E402
import profiling  # noqa: E402
import ramp  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import servers  # noqa: E402
import targets  # noqa: E402
from scenarios import Bench, log  # noqa: E402

from e2e.upstream import make_test_pki  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs, one repetition (a smoke test, ~3 min)")
    ap.add_argument("--seconds", type=float, help="seconds per load run (default 4; quick 2)")
    ap.add_argument("--reps", type=int, help="interleaved repetitions (default 3; quick 1)")
    ap.add_argument("--profile", action="store_true", help="also sample (c) with py-spy under 8-client chat")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="where the results markdown goes")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, audit, configs)")
    ap.add_argument("--ab", type=Path, metavar="TREE",
                    help="A/B only: chat through (b), (c) and (c′) = (c) run from a patched copy in TREE "
                         "(TREE/palaryn_proxy, with addons/ copied to TREE/palaryn_proxy/addons)")  # fmt: skip
    ap.add_argument("--rss-cap", type=float, default=420, help="seconds the RSS phase may take (default 420)")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to skip: chat,upload,sse,ramp,rss,events,micro,adversarial,crash",
    )
    return ap.parse_args()


def setup(procs: servers.Processes, workdir: Path, args: argparse.Namespace) -> tuple[Bench, Path, list[str]]:
    ca, cert, key = make_test_pki(workdir / "pki")
    nginx_port = servers.start_nginx(procs, workdir, cert, key)
    sse_port = servers.start_sse_server(procs, workdir, cert, key)
    certs = workdir / "certs"
    subprocess.run([str(targets.VENV_BIN / "palaryn-proxy"), "ca", "init", "--certs-dir", str(certs)],
                   check=True, capture_output=True)  # fmt: skip
    trust = targets.trust_bundle(workdir, ca)
    config = targets.palaryn_config(workdir, certs, ca, [nginx_port, sse_port])
    config_path = targets.write_palaryn_config(workdir, config)
    stages = targets.active_stages(config_path)
    found = {
        "a": targets.Target("a", "(a) direct"),
        "b": targets.start_mitmdump(procs, workdir, certs, trust, stream_sse=False),
        "b_stream": targets.start_mitmdump(procs, workdir, certs, trust, stream_sse=True),
        "c": targets.start_palaryn(procs, workdir, config),
    }
    if args.ab:
        found["c2"] = targets.start_palaryn(procs, workdir, config, args.ab.resolve())
    if "events" not in args.skip.split(","):
        no_events = {**config, "events": {"enabled": False}}
        found["c_noev"] = targets.start_palaryn(procs, workdir, no_events, key="c_noev",
                                                label="(c) with events.enabled: false")  # fmt: skip
    chat_body, upload_body = workdir / "chat.json", workdir / "upload.json"
    chat_body.write_bytes(payloads.chat_request())
    upload_body.write_bytes(payloads.upload_document())
    seconds = args.seconds or (2.0 if args.quick else 4.0)
    reps = args.reps or (1 if args.quick else 3)
    bench = Bench(nginx_port, sse_port, chat_body, upload_body, found, seconds, reps)
    return bench, config_path, stages


def run_micro(procs: servers.Processes, workdir: Path, quick: bool) -> list[list[str]]:
    port = servers.free_port()
    redis_dir = workdir / "redis"
    redis_dir.mkdir()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(redis_dir)]  # fmt: skip
    redis_url = None
    if shutil.which("redis-server"):
        proc = procs.start("redis", argv, servers.LOAD_CPU, workdir / "redis.log")
        servers.wait_port(port, proc, "redis-server")
        redis_url = f"redis://127.0.0.1:{port}/0"
    cmd = ["taskset", "-c", servers.PROXY_CPU, sys.executable, str(HERE / "micro.py")]
    cmd += ["--redis-url", redis_url] if redis_url else []
    cmd += ["--quick"] if quick else []
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, timeout=600)
    if out.returncode != 0:
        return [
            ["micro-benchmarks", "failed", out.stderr.strip().splitlines()[-1][:160] if out.stderr else "?"]
        ]
    return json.loads(out.stdout)


def run_profile(bench: Bench, workdir: Path, seconds: float = 15) -> str:
    t = bench.targets["c"]
    assert t.pid is not None
    raw = workdir / "profile.raw"
    spy = profiling.record(t.pid, seconds, raw)
    if spy is None:
        return "py-spy not found (`.venv/bin/pip install py-spy`); no profile taken."
    result, cpu = scenarios.measured_hey(bench, t, bench.chat_url, bench.chat_body, 8, seconds=seconds + 2)
    _, err = spy.communicate(timeout=120)
    if not raw.exists():
        return f"py-spy failed: {err.decode(errors='replace')[-300:]}"
    head = f"8-client chat while sampling: {result.rps:.0f} req/s, proxy CPU {cpu:.0%}.\n\n"
    return head + profiling.summarise(raw)


def environment(stages: list[str], config_path: Path, started: float) -> str:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    return "\n".join([
        f"- machine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}",
        f"- {version([str(targets.VENV_BIN / 'mitmdump'), '--version'])}; {version(['nginx', '-v'])}; hey (Debian)",
        f"- (c) stages: {', '.join(stages)}",
        f"- (c) config: `{config_path.name}` as written by bench/targets.py::palaryn_config",
        f"- wall time of this run: {time.monotonic() - started:.0f} s; load average at start "
        f"{LOAD_AT_START:.2f}, at end {os.getloadavg()[0]:.2f}"
        + (" — **the machine was busy before the run started: absolute figures are noisy; the interleaved "
           "(c)/(b) ratios are the robust part**" if LOAD_AT_START > 1.0 else ""),
    ])  # fmt: skip


LOAD_AT_START = os.getloadavg()[0]


def run_all(
    bench: Bench, args: argparse.Namespace, procs: servers.Processes, workdir: Path, out: dict
) -> None:
    """Every part in order; results land in `bench` and `out` as they come (an interrupted run keeps them)."""
    skip = set(filter(None, args.skip.split(",")))
    if "chat" not in skip:
        scenarios.chat(bench, ["a", "b", "c"])
    if "upload" not in skip:
        scenarios.upload(bench, ["a", "b", "c"])
    if "sse" not in skip:
        scenarios.sse_single(bench, ["a", "b_stream", "c"])
    if "ramp" not in skip:
        ramps = out["ramps"]
        for key in ("b_stream", "c", "a"):
            top = max((lv.streams for v in ramps.values() for lv in v), default=ramp.LEVELS[-1])
            levels = ramp.LEVELS if key != "a" else (1, top)  # (a): is the client side the limit?
            ramps[key] = ramp.run_ramp(bench.targets[key], bench.sse_port, levels)
            log(f"ramp {key}: " + ", ".join(f"{lv.streams}→{lv.ttfc_ms:.1f} ms" for lv in ramps[key]))
    if args.profile:
        out["profile"] = run_profile(bench, workdir)
    if "rss" not in skip:
        b = bench.targets["b"]
        assert b.pid is not None
        bench.results["rss_b"] = (bench.served.get("b", 0), targets.rss_mib(b.pid))
        marks = (10_000, 20_000) if args.quick else (50_000, 100_000)
        scenarios.rss(bench, "c", marks, args.rss_cap)
    if "events" not in skip:
        scenarios.chat(bench, ["c", "c_noev"], scenario="events-chat")
        out["events"] = run_script("eventsbench.py", ["--start-postgres", *(["--records", "100000"] if args.quick else [])])
    if "micro" not in skip:
        out["micro"] = run_micro(procs, workdir, args.quick)
    if "adversarial" not in skip:
        out["adversarial"] = run_script("adversarial.py", ["--quick"] if args.quick else [])
    if "crash" not in skip:
        out["crash"] = run_script("crash.py", ["--kills", "3", "--reps", "2"] if args.quick else [])


def run_script(name: str, argv: list[str]) -> str:
    """A standalone bench script's markdown report (its own processes; the exit code is reported too)."""
    log(f"{name} {' '.join(argv)}")
    done = subprocess.run([sys.executable, str(Path(__file__).parent / name), *argv], capture_output=True,
                          text=True, timeout=1800)  # fmt: skip
    if done.returncode != 0:
        return f"{done.stdout}\n\n**{name} exited with {done.returncode}**: {done.stderr[-2000:]}"
    return done.stdout


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on `kill`
    os.sched_setaffinity(0, {int(servers.LOAD_CPU)})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    servers.require_tools()
    workdir = Path(tempfile.mkdtemp(prefix="palaryn-bench-"))
    procs = servers.Processes()
    out: dict = {"ramps": {}, "profile": "", "micro": [], "interrupted": False}
    try:
        bench, config_path, stages = setup(procs, workdir, args)
        log(f"work dir {workdir}; (c) stages: {', '.join(stages)}")
        if args.ab:
            scenarios.chat(bench, ["b", "c", "c2"])
            print("\n" + report.ab_table(bench.results, bench.targets["c2"].label))
            return
        try:
            run_all(bench, args, procs, workdir, out)
        except (KeyboardInterrupt, SystemExit):
            out["interrupted"] = True
            log("interrupted: writing what was measured so far")
    finally:
        procs.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    write_report(args, bench, stages, config_path, started, out)


def write_report(
    args: argparse.Namespace, bench: Bench, stages: list[str], config_path: Path, started: float, out: dict
) -> None:
    ramps, micro, profile = out["ramps"], out["micro"], out["profile"]
    now = datetime.datetime.now()
    dlp_on = "dlp" in stages
    parts = [
        f"# palaryn-proxy benchmark, {now:%Y-%m-%d %H:%M}"
        + (" (quick)" if args.quick else "")
        + (" (INTERRUPTED: partial)" if out["interrupted"] else ""),
        "",
        f"Cells: median of {bench.reps} interleaved run(s) of {bench.seconds:g} s · req/s · p50 / p99 latency · "
        "proxy CPU (100 % = one core). Proxy on core 1; nginx, the SSE upstream and the load generator (hey, "
        "asyncio client) on core 0. SSE rows compare with mitmdump + a 4-line streaming script.",
        "",
        report.main_table(bench.results, ramps, dlp_on),
        "",
        "## Micro-benchmarks (engine parts, one core)",
        "",
        report.micro_table(micro) if micro else "(skipped)",
    ]
    if ramps:
        parts += ["", "## Open SSE streams: probe first-chunk median per level", "", report.ramp_table(ramps)]
    if bench.results.get("events-chat8"):
        parts += ["", "## Event store: (c) with and without it, interleaved", "", report.events_table(bench.results)]
    if out.get("events"):
        parts += ["", "## Event store queries (bench/eventsbench.py)", "", out["events"]]
    if out.get("adversarial"):
        parts += [
            "",
            "## Hostile bodies through the DLP engine (bench/adversarial.py)",
            "",
            out["adversarial"],
        ]
    if out.get("crash"):
        parts += ["", "## What a SIGKILL under load loses (bench/crash.py)", "", out["crash"]]
    if profile:
        parts += ["", "## Profile of (c) under 8-client chat (py-spy)", "", profile]
    parts += ["", "## Environment", "", environment(stages, config_path, started), ""]
    text = "\n".join(parts)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{now:%Y-%m-%d}{'-quick' if args.quick else ''}.md"
    path.write_text(text)
    print(f"bench: written to {path}")


if __name__ == "__main__":
    main()
