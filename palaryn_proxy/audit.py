"""The tamper-evident audit log: one hash-chained JSONL record per flow, written off the event loop.

Each record carries `prev_hash` (the previous record's `hash`, or 64 zeros for the first record ever) and
`hash` = sha256 over the canonical JSON (sorted keys, no spaces) of the record without `hash`. The chain
continues across size-based rotation (`audit.jsonl` -> `audit.jsonl.1`, `.2`, ... oldest first) and across
restarts (the writer reads the last record of the current file). Records are written in batches: one
waits at most BATCH_SECONDS in memory, so the writer thread wakes once per batch rather than per request.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from palaryn_proxy.errors import AuditError
from palaryn_proxy.types import FlowState

GENESIS = "0" * 64
MASK = "***"


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def mask_url(url: str, sensitive: frozenset[str]) -> str:
    """Replace the values of sensitive query keys (and any userinfo password) with ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{hostport}" if ":" in userinfo else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in sensitive for k, _ in pairs):
            query = urlencode([(k, MASK if k.lower() in sensitive else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def build_record(
    state: FlowState, duration_ms: float, sensitive_query_keys: frozenset[str]
) -> dict[str, Any]:
    """The audit record of a finished flow (without the chain fields)."""
    ident = state.identity
    return {
        "request_id": state.request_id,
        "ts": state.ts,
        "actor": ident.actor,
        "workspace": ident.workspace,
        "task": ident.task,
        "tags": dict(ident.tags),
        "client": state.client,
        "method": state.method,
        "url": mask_url(state.url, sensitive_query_keys),
        "host": state.host,
        "kind": state.kind.value,
        "capability": state.capability.value,
        "tool": state.tool,
        "decision": state.decision.value,
        "reasons": [r.to_dict() for r in state.reasons],
        "status": state.status,
        "duration_ms": round(duration_ms, 3),
        "request_bytes": state.request_bytes,
        "response_bytes": state.response_bytes,
        "provider": state.provider,
        "api": state.extra.get("api"),
        "model": state.model,
        "usage": state.usage.to_dict() if state.usage is not None else None,
        "cost_usd": str(state.cost_usd) if state.cost_usd is not None else None,
        "dlp": list(state.dlp),
        "anomalies": list(state.anomalies),
        "model_tools": list(state.model_tools),
    }


def _last_hash(path: Path) -> str | None:
    """The `hash` of the last record in `path`, reading only its tail."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            chunk = min(size, 1 << 16)
            while True:
                fh.seek(size - chunk)
                lines = fh.read(chunk).splitlines()
                complete = [ln for ln in lines if ln.strip()]
                if complete and (chunk == size or len(lines) > 1):
                    return str(json.loads(complete[-1])["hash"])
                if chunk == size:
                    return None
                chunk = min(size, chunk * 4)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError) as exc:
        raise AuditError(
            f"{path}: the last record is not a valid audit record ({exc}); "
            "move the file aside to start a new chain"
        ) from None


BATCH_SECONDS = 0.02  # how long a record may wait in memory for others to be written with it


class AuditWriter:
    """Appends records from any thread; a writer thread chains, serialises, rotates and flushes them."""

    _STOP = object()

    def __init__(self, path: str | Path, max_bytes: int = 100 * 1024 * 1024, fsync: bool = False):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._prev = _last_hash(self.path) or self._last_rotated_hash() or GENESIS
        self._fh = self.path.open("ab")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="palaryn-audit", daemon=True)
        self._closed = False
        self.records_written = 0
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        if self._closed:
            raise AuditError("audit log is closed")
        self._queue.put(record)

    def close(self) -> None:
        """Drain every queued record, flush and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(self._STOP)
        self._thread.join()
        self._fh.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every record queued so far is on disk (for tests and `audit tail`)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is not self._STOP and not isinstance(item, threading.Event):
                # Let records gather: one wake-up and one write per batch, not per request.
                time.sleep(BATCH_SECONDS)
            batch = [item]
            while True:  # write everything already queued in one go, then flush once
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = False
            for entry in batch:
                if entry is self._STOP:
                    stop = True
                elif isinstance(entry, threading.Event):
                    self._fh.flush()
                    entry.set()
                else:
                    self._append(entry)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            if stop:
                return

    def _append(self, record: dict[str, Any]) -> None:
        record = dict(record)
        record.pop("hash", None)
        record["prev_hash"] = self._prev
        record["hash"] = record_hash(record)
        line = canonical(record) + b"\n"
        if self._fh.tell() + len(line) > self.max_bytes and self._fh.tell() > 0:
            self._rotate()
        self._fh.write(line)
        self._prev = record["hash"]
        self.records_written += 1

    def _rotated(self) -> list[Path]:
        return [p for p in chain_files(self.path) if p != self.path]

    def _last_rotated_hash(self) -> str | None:
        rotated = self._rotated()
        return _last_hash(rotated[-1]) if rotated else None

    def _rotate(self) -> None:
        self._fh.flush()
        self._fh.close()
        rotated = self._rotated()
        n = int(rotated[-1].name.rsplit(".", 1)[1]) + 1 if rotated else 1
        self.path.rename(self.path.with_name(f"{self.path.name}.{n}"))
        self._fh = self.path.open("ab")


def chain_files(path: str | Path) -> list[Path]:
    """The rotated files of a log, oldest first, then the current file."""
    base = Path(path)
    found = []
    for p in base.parent.glob(base.name + ".*"):
        suffix = p.name[len(base.name) + 1 :]
        if suffix.isdigit():
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)] + ([base] if base.exists() else [])


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    records: int
    message: str


def verify(files: Iterable[str | Path]) -> VerifyResult:
    """Check every record's hash and its link to the one before; report the first break."""
    prev: str | None = None
    count = 0
    for path in files:
        try:
            fh = Path(path).open("rb")
        except OSError as exc:
            return VerifyResult(False, count, f"{path}: cannot read: {exc.strerror}")
        with fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    record = json.loads(line)
                    stored = record["hash"]
                    linked = record["prev_hash"]
                except (ValueError, KeyError, TypeError):
                    return VerifyResult(
                        False, count, f"{where}: not a valid audit record (altered or truncated)"
                    )
                if record_hash(record) != stored:
                    rid = record.get("request_id", "?")
                    return VerifyResult(False, count, f"{where}: record {rid} was altered (hash mismatch)")
                if prev is not None and linked != prev:
                    return VerifyResult(
                        False,
                        count,
                        f"{where}: chain broken before this record "
                        "(a record was removed, inserted or reordered)",
                    )
                prev = stored
                count += 1
    return VerifyResult(True, count, f"OK: {count} records, chain intact")


def read_records(files: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """Every parseable record of the given files, in order (for `audit tail` and `usage`)."""
    for path in files:
        with Path(path).open("rb") as fh:
            for line in fh:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
