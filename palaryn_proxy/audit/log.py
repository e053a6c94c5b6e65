"""The tamper-evident audit log: one hash-chained JSONL record per flow, written off the event loop.

Each record carries `prev_hash` (the previous record's `hash`, or 64 zeros for the first record ever) and
`hash` = sha256 over the canonical JSON (sorted keys, no spaces) of the record without `hash`. The chain
continues across size-based rotation (`audit.jsonl` -> `audit.jsonl.1`, `.2`, ... oldest first) and across
restarts (the writer reads the last record of the current file). With `audit.durability: batched` a record
waits at most BATCH_SECONDS in memory, so the writer thread wakes once per batch rather than per request (a
crash loses those); with `acknowledged` the audit stage holds each response until its record is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from palaryn_proxy.errors import AuditError
from palaryn_proxy.types import FlowState

if TYPE_CHECKING:
    from palaryn_proxy.audit.checkpoint import Checkpointer

log = logging.getLogger("palaryn")
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
        "api": state.llm.api if state.llm is not None else None,
        "model": state.model,
        "usage": state.usage.to_dict() if state.usage is not None else None,
        "cost_usd": str(state.cost_usd) if state.cost_usd is not None else None,
        "dlp": list(state.dlp),
        "anomalies": list(state.anomalies),
        "model_tools": list(state.model_tools),
        "credentials": list(state.credentials),
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


BATCH_SECONDS = 0.02  # batched mode: how long a record may wait in memory for others to be written with it

# What an acknowledged write resolves to: None once the record is on disk, else why it is not.
Ack = asyncio.Future[AuditError | None]


class AuditWriter:
    """Appends records from any thread; a writer thread chains, serialises, rotates and writes them.

    Batched (the default): `write` queues a record and returns; the thread wakes at most every BATCH_SECONDS
    and writes what gathered. Acknowledged: the thread writes whatever is queued at once (while one group is
    written the next gathers: a group commit), and `write_acked` returns a future resolved on the caller's
    loop once the record's group is in the file (and on the disk, with `fsync`). A group is one write(2) of
    whole lines with no buffer in between, so a killed process leaves whole records and at most one torn last
    line, which the next start drops. A failed write is undone (the file cut back to its last whole group)
    so the chain stays intact; the group's records are lost, its waiters are told, the next group retries.
    """

    _STOP = object()
    _CHECKPOINT = object()

    def __init__(
        self,
        path: str | Path,
        max_bytes: int = 100 * 1024 * 1024,
        fsync: bool = False,
        *,
        acknowledged: bool = False,
        checkpointer: Checkpointer | None = None,
    ):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.acknowledged = acknowledged
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _repair_torn_tail(self.path)
        self._prev = _last_hash(self.path) or self._last_rotated_hash() or GENESIS  # last record on disk
        self._fh = self.path.open("ab", buffering=0)  # one write(2) per group, nothing held in a buffer
        self._size = os.fstat(self._fh.fileno()).st_size
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="palaryn-audit", daemon=True)
        self._closed = False
        self._failing = False
        self.records_written = 0
        self.records_lost = 0  # records of groups that could not be written
        self.checkpointer = checkpointer  # signs the chain head (audit/checkpoint.py)
        self._file_start, self._file_records = (
            _file_head(self.path, self._prev) if checkpointer else (GENESIS, 0)
        )
        self._thread.start()
        if checkpointer is not None:
            checkpointer.start(self.checkpoint)

    def checkpoint(self) -> None:
        """Ask the writer thread to sign the chain head once what is queued so far is written."""
        if not self._closed:
            self._queue.put(self._CHECKPOINT)

    def write(self, record: dict[str, Any]) -> None:
        """Queue a record; nobody waits for it."""
        if self._closed:
            raise AuditError("audit log is closed")
        self._queue.put(record)

    def write_acked(self, record: dict[str, Any]) -> Ack:
        """Queue a record; the returned future (of the running loop) resolves once it is written."""
        if self._closed:
            raise AuditError("audit log is closed")
        ack: Ack = asyncio.get_running_loop().create_future()
        self._queue.put((record, ack))
        return ack

    def close(self) -> None:
        """Drain every queued record, flush and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(self._STOP)
        self._thread.join()
        self._fh.close()
        if self.checkpointer is not None:
            self.checkpointer.close()

    def flush(self, timeout: float = 5.0) -> None:
        """Block until every record queued so far is on disk (for tests and `audit tail`)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if not self.acknowledged and isinstance(item, dict):
                # Let records gather: one wake-up and one write per batch, not per request.
                time.sleep(BATCH_SECONDS)
            group = [item]
            while True:  # everything already queued goes in this group
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if self._write_group(group):
                return

    def _write_group(self, group: list[Any]) -> bool:
        """Write one group; True when it held the stop marker."""
        records: list[dict[str, Any]] = []
        acks: list[Ack] = []
        flushed: list[threading.Event] = []
        stop = checkpoint = False
        for entry in group:
            if entry is self._STOP:
                stop = True
            elif entry is self._CHECKPOINT:
                checkpoint = True
            elif isinstance(entry, threading.Event):
                flushed.append(entry)
            elif isinstance(entry, tuple):
                records.append(entry[0])
                acks.append(entry[1])
            else:
                records.append(entry)
        error = self._append(records) if records else None
        if acks:
            _acknowledge(acks, error)
        if stop or checkpoint:
            self._sign("shutdown" if stop else "interval")
        for event in flushed:
            event.set()
        return stop

    def _sign(self, reason: str) -> None:
        if self.checkpointer is not None:
            self.checkpointer.sign(self._file_start, self._file_records, self._prev, reason)

    def _append(self, records: list[dict[str, Any]]) -> AuditError | None:
        """Chain and write records, rotating where the size says; on failure cut the file back and say why."""
        segment: list[bytes] = []
        prev = self._prev
        size = self._size
        before = self.records_written
        try:
            for record in records:
                line, digest = _chained(record, prev)
                if size + len(line) > self.max_bytes and size > 0:
                    self._write_segment(segment, prev)
                    segment = []
                    self._rotate()
                    size = 0
                segment.append(line)
                size += len(line)
                prev = digest
            self._write_segment(segment, prev)
        except OSError as exc:
            return self._failed(len(records) - (self.records_written - before), exc)
        if self._failing:
            log.warning("audit log %s: written again", self.path)
            self._failing = False
        return None

    def _write_segment(self, lines: list[bytes], last_hash: str) -> None:
        if not lines:
            return
        view = memoryview(b"".join(lines))
        while view:
            view = view[self._fh.write(view) :]
        if self.fsync:
            os.fsync(self._fh.fileno())
        self._size += sum(map(len, lines))
        self._prev = last_hash
        self.records_written += len(lines)
        self._file_records += len(lines)

    def _failed(self, count: int, exc: OSError) -> AuditError:
        """Cut the file back to its last whole group; the chain continues from the last record written."""
        try:
            os.ftruncate(self._fh.fileno(), self._size)
        except OSError as cut:
            log.error("audit log %s: cannot remove a partial write: %s", self.path, cut.strerror)
        self.records_lost += count
        if not self._failing:
            log.error("audit log %s: cannot write: %s; records are lost until it can", self.path, exc)
            self._failing = True
        return AuditError(f"audit log {self.path}: cannot write: {exc.strerror or exc}")

    def _rotated(self) -> list[Path]:
        return [p for p in chain_files(self.path) if p != self.path]

    def _last_rotated_hash(self) -> str | None:
        rotated = self._rotated()
        return _last_hash(rotated[-1]) if rotated else None

    def _rotate(self) -> None:
        rotated = self._rotated()
        n = int(rotated[-1].name.rsplit(".", 1)[1]) + 1 if rotated else 1
        self._sign("rotation")  # the file being closed, as it is final
        self.path.rename(self.path.with_name(f"{self.path.name}.{n}"))  # the open handle follows the file
        fh = self.path.open("ab", buffering=0)
        self._fh.close()
        self._fh, self._size = fh, 0
        self._file_start, self._file_records = self._prev, 0
        if self.fsync:  # the rename and the new file survive a power loss too
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _file_head(path: Path, prev: str) -> tuple[str, int]:
    """The `prev_hash` of the file's first record (`prev` for an empty file) and how many records it has."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return prev, 0
    with fh:
        first = fh.readline()
        if not first.strip():
            return prev, 0
        count = 1 + sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    try:
        return str(json.loads(first)["prev_hash"]), count
    except (ValueError, KeyError) as exc:
        raise AuditError(f"{path}: the first record is not a valid audit record ({exc})") from None


def _chained(record: dict[str, Any], prev: str) -> tuple[bytes, str]:
    """The record's line, linked to `prev`, and its hash."""
    record = dict(record)
    record.pop("hash", None)
    record["prev_hash"] = prev
    digest = record["hash"] = record_hash(record)
    return canonical(record) + b"\n", digest


def _acknowledge(acks: list[Ack], error: AuditError | None) -> None:
    """Resolve futures from the writer thread, on their own loops (one wake-up per loop and group)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Ack]] = {}
    for ack in acks:
        by_loop.setdefault(ack.get_loop(), []).append(ack)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, group, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _resolve(acks: list[Ack], error: AuditError | None) -> None:
    for ack in acks:
        if not ack.done():  # a waiter that timed out cancelled its future
            ack.set_result(error)


def _repair_torn_tail(path: Path) -> None:
    """A crash can cut the last write short. A last line without its newline is completed when it is a whole
    record, else dropped: its write never finished, so no response waited on it (see AuditWriter)."""
    try:
        fh = path.open("r+b")
    except FileNotFoundError:
        return
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        start = size
        while start > 0:
            start = max(0, start - (1 << 16))
            fh.seek(start)
            newline = fh.read(size - start).rfind(b"\n")
            if newline >= 0:
                start += newline + 1
                break
        fh.seek(start)
        tail = fh.read()
        if _is_record(tail):
            fh.write(b"\n")
            log.warning("audit log %s: the last record lacked its newline (a crash); completed it", path)
            return
        fh.truncate(start)
        log.warning(
            "audit log %s: dropped a record cut short by a crash (%d bytes after the last whole record)",
            path,
            size - start,
        )


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "hash" in record and record_hash(record) == record["hash"]


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
    """Check every record's hash and its link to the one before; report the first break.

    A last line without its newline that is no record is a write a crash cut short (the proxy drops it when
    it starts again): reported, not a break, since removing the newest records is beyond what a chain shows.
    """
    prev: str | None = None
    count = 0
    paths = list(files)
    for index, path in enumerate(paths):
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
                    if index == len(paths) - 1 and not line.endswith(b"\n"):
                        return VerifyResult(
                            True,
                            count,
                            f"OK: {count} records, chain intact; {where}: the last line is a record cut "
                            "short by a crash (dropped when the proxy starts)",
                        )
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
