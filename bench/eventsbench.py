"""Event store query benchmark: import a generated audit log (1,000,000 records by default), then p50/p95 of
the console's queries on SQLite and, with --postgres URL or --start-postgres, on Postgres.

Run: python bench/eventsbench.py [--records N] [--runs 30] [--postgres URL | --start-postgres]
Prints a markdown table. The generated log is cached in --workdir (same N and seed: reused).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from palaryn_proxy.audit.log import GENESIS, canonical, record_hash
from palaryn_proxy.events import EventStore, FlowQuery, import_files, open_event_store

DAY = 86400.0
PROVIDERS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"],
    "anthropic": ["claude-sonnet-4", "claude-haiku-3.5", "claude-opus-4", "claude-3.7"],
    "google": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash", "gemini-1.5-pro"],
    "mistral": ["mistral-large", "mistral-small", "codestral", "ministral-8b"],
    "bedrock": ["nova-pro", "nova-lite", "llama-3.3-70b", "titan-text"],
}
MODELS = [(p, m, Decimal(random.Random(m).randint(5, 1500)) / 100) for p, ms in PROVIDERS.items() for m in ms]
HOSTS = ["api.github.com", "registry.npmjs.org", "pypi.org", "example.com", "api.slack.com", "mcp.internal"]
DECISIONS = ["allow"] * 85 + ["redact"] * 5 + ["deny"] * 4 + ["approval_required"] * 2 + ["rate_limited"] * 2
DECISIONS += ["budget_exceeded", "error"]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(rng: random.Random, i: int, ts: float) -> dict[str, Any]:
    number = min(int(rng.expovariate(1 / 50)), 199)  # busy actors and a long tail, all 200 seen
    actor = f"agent-{number:03d}"
    llm = rng.random() < 0.6
    decision = rng.choice(DECISIONS)
    provider = model = usage = cost = host = None
    if llm:
        provider, model, price = MODELS[int(rng.random() ** 2 * len(MODELS))]
        host = f"api.{provider}.com"
        if decision in ("allow", "redact"):
            tin, tout = rng.randint(50, 20000), rng.randint(0, 4000)
            usage = {"input_tokens": tin, "output_tokens": tout, "cache_read_tokens": 0, "cache_write_tokens": 0,
                     "reasoning_tokens": 0, "estimated": False}  # fmt: skip
            cost = str((tin * price + tout * price * 4) / 1_000_000)
    kind = "llm" if llm else rng.choice(["http", "http", "mcp", "passthrough"])
    reasons = []
    if rng.random() < 0.1:
        report = rng.random() < 0.3
        msg = "report only, would have denied: write to prod" if report else "denied: write to prod"
        reasons.append({"stage": "policy", "rule": f"pack/rule-{rng.randrange(15)}", "message": msg})
    if rng.random() < 0.01:
        reasons.append(
            {"stage": "injection", "rule": "prompt_injection", "message": "instructions in a tool result"}
        )
    if rng.random() < 0.005:
        decision = "deny"
        reasons.append({"stage": "ssrf", "rule": "ssrf:private", "message": "10.0.0.7 is not reachable"})
    dlp = []
    if rng.random() < 0.05:
        dlp = [{"type": rng.choice(["aws_access_key", "github_token", "email", "credit_card", "jwt"]),
                "direction": rng.choice(["request", "response"]), "location": "body.messages[0].content",
                "action": rng.choice(["block", "redact", "log"])} for _ in range(rng.randint(1, 3))]  # fmt: skip
    anomalies = []
    if rng.random() < 0.01:
        anomalies = [
            {"type": rng.choice(["rate_spike", "new_host", "cost_spike"]), "severity": "warn", "first": True}
        ]
    host = host or rng.choice(HOSTS)
    return {
        "request_id": f"{int(ts * 1000):013x}{i:08x}", "ts": iso(ts), "actor": actor,
        "workspace": f"ws-{number % 10}", "task": rng.choice([None, f"task-{rng.randrange(50)}"]),
        "tags": {"team": "core"}, "client": "10.1.2.3", "method": "POST", "url": f"https://{host}/v1/x",
        "host": host, "kind": kind, "capability": "write", "tool": None, "decision": decision, "reasons": reasons,
        "status": 200 if decision in ("allow", "redact") else 403, "duration_ms": round(rng.random() * 900, 3),
        "request_bytes": rng.randint(100, 40000), "response_bytes": rng.randint(100, 40000),
        "provider": provider, "api": "chat" if llm else None, "model": model, "usage": usage, "cost_usd": cost,
        "dlp": dlp, "anomalies": anomalies, "model_tools": [],
    }  # fmt: skip


def generate(path: Path, count: int, end: float) -> None:
    """A hash-chained audit log of `count` records over the 30 days before `end`, oldest first."""
    rng = random.Random(17)
    prev = GENESIS
    start = end - 30 * DAY
    with path.open("wb") as fh:
        lines = []
        for i in range(count):
            rec = record(rng, i, start + (i + rng.random()) * 30 * DAY / count)
            rec["prev_hash"] = prev
            prev = rec["hash"] = record_hash(rec)
            lines.append(canonical(rec) + b"\n")
            if len(lines) == 10_000:
                fh.writelines(lines)
                lines = []
        fh.writelines(lines)


def audit_log(workdir: Path, count: int) -> tuple[Path, float]:
    path = workdir / f"audit-{count}.jsonl"
    meta = workdir / f"audit-{count}.json"
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())["end"]
    end = time.time()
    started = time.perf_counter()
    generate(path, count, end)
    meta.write_text(json.dumps({"end": end}))
    print(f"generated {count:,} records in {time.perf_counter() - started:.1f}s: {path}", file=sys.stderr)
    return path, end


def queries(store: EventStore, end: float) -> dict[str, Callable[[], object]]:
    _, cursor = store.flows(FlowQuery())
    return {
        "summary 24h": lambda: store.summary(end - DAY, None),
        "summary 7d": lambda: store.summary(end - 7 * DAY, None),
        "spend by actor 7d, 1h buckets": lambda: store.spend("actor", end - 7 * DAY, None, 3600),
        "spend by model 30d, 1d buckets": lambda: store.spend("model", end - 30 * DAY, None, 86400),
        "flows page (50), unfiltered": lambda: store.flows(FlowQuery()),
        "flows page, actor=agent-042": lambda: store.flows(FlowQuery(actor="agent-042")),
        "flows page, decision=deny": lambda: store.flows(FlowQuery(decision="deny")),
        "flows 2nd page by cursor": lambda: store.flows(FlowQuery(cursor=cursor)),
        "security 7d, 1h buckets": lambda: store.security(end - 7 * DAY, None, 3600),
    }


def measure(store: EventStore, end: float, runs: int) -> dict[str, tuple[float, float]]:
    out = {}
    for name, fn in queries(store, end).items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[name] = (statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))])
    return out


def run_backend(url: str, log: Path, end: float, runs: int) -> tuple[float, dict[str, tuple[float, float]]]:
    store = open_event_store(url)
    started = time.perf_counter()
    read, stored = import_files(store, [log], batch_size=2000)
    rate = stored / (time.perf_counter() - started)
    print(f"{url}: imported {stored:,} of {read:,} records at {rate:,.0f}/s", file=sys.stderr)
    store.close()
    store = open_event_store(url)  # as the proxy would: a fresh process after the import
    try:
        return rate, measure(store, end, runs)
    finally:
        store.close()


def table(results: dict[str, tuple[float, dict[str, tuple[float, float]]]], count: int) -> str:
    names = list(results)
    lines = [f"Event store, {count:,} flows over 30 days (p50 / p95 ms; budget: p95 < 200 ms)", ""]
    lines.append("| query | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    lines.append("| import (records/s) | " + " | ".join(f"{results[n][0]:,.0f}" for n in names) + " |")
    for query in next(iter(results.values()))[1]:
        cells = [f"{results[n][1][query][0]:.1f} / {results[n][1][query][1]:.1f}" for n in names]
        lines.append(f"| {query} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/palaryn-eventsbench"))
    parser.add_argument("--postgres", metavar="URL", help="Also benchmark this Postgres (a fresh database).")
    parser.add_argument(
        "--start-postgres", action="store_true", help="Start a Postgres server (tests/pgproc.py)."
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    log, end = audit_log(args.workdir, args.records)
    results = {}
    db = args.workdir / "events.db"
    for leftover in (db, db.with_name("events.db-wal"), db.with_name("events.db-shm")):
        leftover.unlink(missing_ok=True)
    results["SQLite"] = run_backend(f"sqlite://{db}", log, end, args.runs)
    server = None
    if args.start_postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pgproc import PostgresProcess, find_bindir

        bindir = find_bindir()
        if bindir is None:
            parser.error("--start-postgres: no PostgreSQL server binary found")
        server = PostgresProcess(bindir, durable=True).start()
        args.postgres = server.url
    try:
        if args.postgres:
            import psycopg

            name = f"eventsbench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
            results["Postgres"] = run_backend(url, log, end, args.runs)
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}"')  # type: ignore[arg-type]
    finally:
        if server is not None:
            server.stop()
    print(table(results, args.records))
    for leftover in (db, db.with_name("events.db-wal"), db.with_name("events.db-shm")):
        leftover.unlink(missing_ok=True)  # the generated audit log stays, for the next run


if __name__ == "__main__":
    main()
