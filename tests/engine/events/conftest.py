"""Fixtures for the event store contract suite: a real Postgres server, one store per backend, record maker."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pgproc import PostgresProcess, require_postgres

from palaryn_proxy.events import EventStore, open_event_store

T0 = 1_796_000_000.0  # 2026-11-29 23:33:20 UTC: not on an hour
DECISIONS = ["allow"] * 6 + [
    "redact",
    "deny",
    "approval_required",
    "rate_limited",
    "budget_exceeded",
    "error",
]
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet"),
    ("google", "gemini"),
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresProcess]:
    """One real PostgreSQL server for the session; tests take a database of their own."""
    server = PostgresProcess(require_postgres()).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/events/events.db"
    server: PostgresProcess = request.getfixturevalue("postgres_server")
    return server.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_event_store(store_url)
    yield opened
    opened.close()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_record(rng: random.Random, ts: float, n: int) -> dict[str, Any]:
    """An audit record shaped like build_record's, with usage/cost on LLM flows and some findings."""
    kind = rng.choice(["llm", "llm", "http", "mcp"])
    decision = rng.choice(DECISIONS)
    provider, model = rng.choice(MODELS) if kind == "llm" else (None, None)
    usage = cost = None
    if kind == "llm" and decision in ("allow", "redact"):
        tin, tout = rng.randint(1, 5000), rng.randint(0, 2000)
        usage = {"input_tokens": tin, "output_tokens": tout, "cache_read_tokens": 0, "cache_write_tokens": 0,
                 "reasoning_tokens": 0, "estimated": False}  # fmt: skip
        cost = str(Decimal(tin) * Decimal("0.0000025") + Decimal(tout) * Decimal("0.00001"))
    reasons = []
    if rng.random() < 0.2:
        report = rng.random() < 0.4
        message = "report only, would have denied: writes" if report else "denied by pack"
        reasons.append(
            {"stage": "policy", "rule": rng.choice(["no-writes", "gh-only", "prod"]), "message": message}
        )
    if rng.random() < 0.05:
        reasons.append({"stage": "injection", "rule": "prompt_injection", "message": "injection in response"})
    if rng.random() < 0.05:
        decision = "deny" if rng.random() < 0.7 else decision
        reasons.append({"stage": "ssrf", "rule": "ssrf:private", "message": "10.0.0.1 is not reachable"})
    dlp = [
        {"type": rng.choice(["aws_key", "email", "jwt"]), "direction": rng.choice(["request", "response"]),
         "location": "body", "action": rng.choice(["block", "redact", "log"])}
        for _ in range(rng.choice([0, 0, 0, 0, 1, 2]))
    ]  # fmt: skip
    anomalies = [
        {"type": rng.choice(["rate_spike", "new_host"]), "severity": "warn", "first": True}
    ] * rng.choice([0, 0, 0, 0, 0, 1])
    return {
        "request_id": f"req-{n:06d}-{rng.randrange(1 << 30):08x}",
        "ts": iso(ts),
        "actor": f"actor{rng.randrange(5)}",
        "workspace": rng.choice(["ws-a", "ws-b"]),
        "task": rng.choice([None, "t1", "t2"]),
        "tags": {},
        "client": "127.0.0.1",
        "method": "POST",
        "url": "https://api.example.com/v1/x",
        "host": rng.choice(["api.openai.com", "api.github.com", "example.com"]),
        "kind": kind,
        "capability": "read",
        "tool": None,
        "decision": decision,
        "reasons": reasons,
        "status": 200,
        "duration_ms": 12.5,
        "request_bytes": 10,
        "response_bytes": 20,
        "provider": provider,
        "api": None,
        "model": model,
        "usage": usage,
        "cost_usd": cost,
        "dlp": dlp,
        "anomalies": anomalies,
        "model_tools": [],
    }


@pytest.fixture
def make_records() -> Callable[..., list[dict[str, Any]]]:
    def make(n: int, *, start: float = T0, span: float = 3 * 86400, seed: int = 7) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        records = [make_record(rng, start + rng.random() * span, i) for i in range(n)]
        for i in range(0, n, 50):  # some flows share a millisecond: the cursor must still not skip any
            records[i]["ts"] = records[max(0, i - 1)]["ts"]
        return records

    return make
