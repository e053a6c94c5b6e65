"""What a SIGKILL under load loses, and what acknowledged audit writes cost: one markdown report.

Each kill starts palaryn-proxy (the bench's production config: every stage, budgets on SQLite) on the proxy
core, drives keep-alive chat calls (4 KB request, 1 KB JSON answer with usage, as `make bench`) from the load
core, SIGKILLs the proxy mid-load and counts exactly:
  - audit records lost: answers a client read in full whose request id has no record in the file;
  - budget spend lost (acknowledged runs, whose records are complete): the recorded cost minus the spend in
    the SQLite file, in calls and in milliseconds of the traffic just before the kill.
Then the same load without kills gives the throughput of batched, acknowledged and acknowledged + fsync.

Usage: .venv/bin/python bench/crash.py [--kills N] [--clients C] [--seconds S] [--reps R] [--out FILE]
(`bench/crash.py --serve PORT CERT KEY` is the chat upstream it starts for itself.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import servers  # noqa: E402
import targets  # noqa: E402
from payloads import chat_request, chat_response  # noqa: E402
from report import table  # noqa: E402
from sseclient import Connection  # noqa: E402

from e2e.upstream import make_test_pki  # noqa: E402

BODY = chat_request(stream=False, size=4096)
ANSWER = chat_response(1024)
GLOBAL_BUDGET = "org-month"  # the bench config's global budget: every call's spend lands in its counter
MODES = {  # label: the `audit` section
    "batched": {"durability": "batched"},
    "acknowledged": {"durability": "acknowledged"},
    "acknowledged + fsync": {"durability": "acknowledged", "fsync": True},
}


def log(msg: str) -> None:
    print(f"crash: {msg}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=5, help="SIGKILLs per audit mode (default 5)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent keep-alive clients (default 16)")
    ap.add_argument("--seconds", type=float, default=4, help="seconds per throughput run (default 4)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved throughput repetitions (default 3)")
    ap.add_argument("--write-behind-ms", type=float, default=20, help="storage write_behind_ms (default 20)")
    ap.add_argument("--out", type=Path, help="also write the report to this file")
    ap.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, audit logs, databases)"
    )
    return ap.parse_args()


# --- load ---------------------------------------------------------------------------------------------


async def serve(port: int, cert: str, key: str) -> None:
    """The chat upstream: every request on a keep-alive connection gets the same 1 KB answer."""
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
    answer += ANSWER

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                await reader.readexactly(int(_header(head, b"content-length") or 0))
                writer.write(answer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ctx, backlog=2048)
    async with server:
        await server.serve_forever()


async def call(conn: Connection) -> str:
    """One chat call; its X-Palaryn-Request-Id once the whole answer is in."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{conn.port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n"
    )
    conn.writer.write(head.encode() + BODY)
    headers = (await conn.reader.readuntil(b"\r\n\r\n")).lower()
    if not headers.startswith(b"http/1.1 200"):
        raise ConnectionError(f"answered {headers[:60]!r}")
    await conn.reader.readexactly(int(_header(headers, b"content-length")))
    return _header(headers, b"x-palaryn-request-id").decode()


def _header(head: bytes, name: bytes) -> bytes:
    """A header's value in a lower-cased head (b"" when absent)."""
    _, found, rest = head.partition(b"\r\n" + name + b":")
    return rest.split(b"\r\n", 1)[0].strip() if found else b""


@dataclass
class Load:
    answers: list[tuple[str, float]] = field(default_factory=list)  # request id, monotonic time it was in
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    stopped: bool = False


async def client(load: Load, proxy: str, port: int) -> None:
    conn: Connection | None = None
    while not load.stopped:
        try:
            if conn is None:
                conn = await Connection.open(port, proxy)
            start = time.monotonic()
            request_id = await call(conn)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            if conn is not None:
                conn.close()
                conn = None
            if not load.stopped:
                load.errors += 1
                await asyncio.sleep(0.01)
            continue
        now = time.monotonic()
        load.answers.append((request_id, now))
        load.latencies.append(now - start)
    if conn is not None:
        conn.close()


async def drive(
    target: targets.Target, port: int, args: argparse.Namespace, seconds: float, kill: bool
) -> tuple[Load, float]:
    """`args.clients` clients for `seconds`; then SIGKILL (kill) or just stop. Returns the load and the time
    it ended (time.monotonic())."""
    assert target.proxy is not None and target.proc is not None
    load = Load()
    tasks = [asyncio.ensure_future(client(load, target.proxy, port)) for _ in range(args.clients)]
    await asyncio.sleep(seconds)
    ended = time.monotonic()
    if kill:
        os.kill(target.proc.pid, signal.SIGKILL)  # taskset exec'd the proxy: this is its pid
    load.stopped = True  # no await since the kill: no client started another call in between
    await asyncio.wait(tasks, timeout=15)
    return load, ended


# --- one proxy run ------------------------------------------------------------------------------------


@dataclass
class Setup:
    workdir: Path
    procs: servers.Processes
    port: int  # the chat upstream's
    config: dict[str, Any]
    runs: int = 0

    def start(self, audit: dict[str, Any], write_behind_ms: float) -> tuple[targets.Target, Path]:
        self.runs += 1
        run = self.workdir / f"run{self.runs}"
        run.mkdir()
        home = run / "c"  # where targets.start_palaryn keeps the audit log and the database
        url = f"sqlite:///{home / 'palaryn.db'}?write_behind_ms={write_behind_ms:g}"
        config = {**self.config, "audit": audit, "storage": {"url": url}}
        return targets.start_palaryn(self.procs, run, config), home


def setup(workdir: Path, procs: servers.Processes) -> Setup:
    ca, cert, key = make_test_pki(workdir / "pki")
    port = servers.free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", str(port), str(cert), str(key)]
    upstream = procs.start("chat-upstream", argv, servers.LOAD_CPU, workdir / "upstream.log")
    servers.wait_port(port, upstream, "chat upstream")
    certs = workdir / "certs"
    subprocess.run([str(targets.VENV_BIN / "palaryn-proxy"), "ca", "init", "--certs-dir", str(certs)],
                   check=True, capture_output=True)  # fmt: skip
    config = targets.palaryn_config(workdir, certs, ca, [port])
    targets.write_palaryn_config(workdir, {**config, "audit": MODES["acknowledged + fsync"]})  # checked once
    return Setup(workdir, procs, port, config)


def records(home: Path) -> list[dict[str, Any]]:
    """The whole records of the run's audit log (a last line cut short by the kill is left out)."""
    out = []
    for line in (home / "audit.jsonl").read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def stored_nanos(home: Path) -> int:
    with closing(sqlite3.connect(home / "palaryn.db")) as db:
        row = db.execute(
            "SELECT spent_nanos FROM counters WHERE key LIKE ?", (f"%budget:{GLOBAL_BUDGET}:%",)
        ).fetchone()
    return int(row[0]) if row else 0


@dataclass
class Kill:
    answered: int
    lost_records: int
    lost_calls: float | None = None  # spend lost, in calls (acknowledged runs only)
    lost_ms: float | None = None  # the same, in milliseconds of the traffic before the kill


def one_kill(s: Setup, label: str, args: argparse.Namespace) -> Kill:
    target, home = s.start(MODES[label], args.write_behind_ms)
    load, killed_at = asyncio.run(drive(target, s.port, args, 1.5 + random.random(), kill=True))
    target.proc.wait()  # type: ignore[union-attr]
    found = records(home)
    audited = {r["request_id"] for r in found}
    result = Kill(len(load.answers), sum(1 for rid, _ in load.answers if rid not in audited))
    if label != "batched":  # every settled call that was answered has its record: compare with the file
        costs = [Decimal(r["cost_usd"]) for r in found if r.get("cost_usd")]
        unit = statistics.median(costs) * 10**9
        lost_nanos = sum(costs) * 10**9 - stored_nanos(home)
        result.lost_calls = float(lost_nanos / unit)
        recent = sum(1 for _, at in load.answers if killed_at - 1.0 <= at <= killed_at)
        result.lost_ms = result.lost_calls / recent * 1000 if recent else float("nan")
    log(f"{label}: {result}")
    return result


# --- throughput ---------------------------------------------------------------------------------------


@dataclass
class Throughput:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu: float  # the proxy's, 1.0 = one core


def one_throughput(s: Setup, label: str, args: argparse.Namespace) -> Throughput:
    target, _ = s.start(MODES[label], args.write_behind_ms)
    try:
        asyncio.run(drive(target, s.port, args, 0.5, kill=False))  # warm up: TLS, caches, baselines
        pid = target.proc.pid  # type: ignore[union-attr]
        cpu0, wall0 = targets.cpu_seconds(pid), time.monotonic()
        load, ended = asyncio.run(drive(target, s.port, args, args.seconds, kill=False))
        cpu = (targets.cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    finally:
        s.procs.stop_one(target.proc)  # type: ignore[arg-type]
    lat = sorted(load.latencies)
    answered = sum(1 for _, at in load.answers if at <= ended)
    result = Throughput(
        answered / args.seconds, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, cpu
    )
    log(f"{label}: {result}")
    return result


# --- report -------------------------------------------------------------------------------------------


def _mean_max(values: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(statistics.mean(values))} / {fmt.format(max(values))}"


def kill_tables(args: argparse.Namespace, kills: dict[str, list[Kill]]) -> list[str]:
    rows = [
        [label, f"{statistics.mean(k.answered for k in runs):.0f}", _mean_max([k.lost_records for k in runs])]
        for label, runs in kills.items()
    ]
    spend = [k for k in kills["acknowledged"] if k.lost_calls is not None]
    return [
        f"## SIGKILL under load ({args.kills} kills per mode, {args.clients} clients, chat calls)",
        "",
        table(
            ["audit durability", "answered per kill", "answered without a record, per kill (mean / max)"],
            rows,
        ),
        "",
        table(
            ["budget storage", "spend lost per kill, in calls (mean / max)", "in ms of traffic (mean / max)"],
            [
                [
                    f"SQLite, write_behind_ms={args.write_behind_ms:g}",
                    _mean_max([k.lost_calls or 0.0 for k in spend]),
                    _mean_max([k.lost_ms or 0.0 for k in spend], "{:.0f}"),
                ]
            ],
        ),
        "",
        "Spend lost: the cost of the recorded calls minus the spend in the file (acknowledged runs, whose",
        "records are complete); ms of traffic: that many calls at the rate of the second before the kill.",
        "",
    ]


def speed_table(args: argparse.Namespace, speed: dict[str, list[Throughput]]) -> list[str]:
    base = statistics.median(t.rps for t in speed["batched"])
    rows = []
    for label, runs in speed.items():
        rps = statistics.median(t.rps for t in runs)
        spread = f"{min(t.rps for t in runs):.0f}–{max(t.rps for t in runs):.0f}"
        p50 = statistics.median(t.p50_ms for t in runs)
        p99 = statistics.median(t.p99_ms for t in runs)
        cpu = statistics.median(t.cpu for t in runs)
        rows.append(
            [label, f"{rps:.0f} ({spread})", f"{p50:.1f}", f"{p99:.1f}", f"{cpu:.0%}", f"{rps / base:.2f}x"]
        )
    return [
        f"## Throughput ({args.clients} clients, {args.seconds:g} s x {args.reps}, medians)",
        "",
        table(["audit durability", "req/s (min–max)", "p50 ms", "p99 ms", "proxy CPU", "vs batched"], rows),
        "",
    ]


def report(args: argparse.Namespace, kills: dict[str, list[Kill]], speed: dict[str, list[Throughput]]) -> str:
    out = kill_tables(args, kills) if args.kills else []
    if args.reps:
        out += speed_table(args, speed)
    return "\n".join(out)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on `kill`
    os.sched_setaffinity(0, {int(servers.LOAD_CPU)})
    workdir = Path(tempfile.mkdtemp(prefix="palaryn-crash-"))
    procs = servers.Processes()
    kills: dict[str, list[Kill]] = {"batched": [], "acknowledged": []}
    speed: dict[str, list[Throughput]] = {label: [] for label in MODES}
    try:
        s = setup(workdir, procs)
        log(f"work dir {workdir}")
        for _ in range(args.kills):
            for label in kills:
                kills[label].append(one_kill(s, label, args))
        for rep in range(args.reps):
            labels = list(MODES)
            for label in labels[rep % len(labels) :] + labels[: rep % len(labels)]:
                speed[label].append(one_throughput(s, label, args))
    finally:
        procs.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(args, kills, speed)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
