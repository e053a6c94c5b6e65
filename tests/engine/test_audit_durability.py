"""Acknowledged audit writes: resolved once on disk, group-committed, failures undone, torn tails repaired."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from palaryn_proxy.audit import AuditWriter, chain_files, verify
from palaryn_proxy.audit import log as audit
from palaryn_proxy.errors import AuditError


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


async def test_an_acknowledged_record_is_in_the_file_when_its_future_resolves(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    writer = AuditWriter(log, acknowledged=True)
    try:
        for i in range(3):
            assert await writer.write_acked({"request_id": f"r{i}"}) is None
            assert lines(log)[-1]["request_id"] == f"r{i}"  # on disk, not in a buffer
    finally:
        writer.close()
    assert verify([log]).ok


async def test_concurrent_records_share_groups_and_keep_the_chain(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "audit.jsonl"
    writer = AuditWriter(log, max_bytes=2000, acknowledged=True)  # rotations inside groups too
    groups: list[int] = []
    append = writer._append
    monkeypatch.setattr(writer, "_append", lambda records: groups.append(len(records)) or append(records))
    try:
        acks = [writer.write_acked({"request_id": f"r{i}", "pad": "x" * 100}) for i in range(300)]
        assert await asyncio.gather(*acks) == [None] * 300
    finally:
        writer.close()
    assert sum(groups) == 300 and len(groups) < 300  # grouped while earlier groups were written
    files = chain_files(log)
    assert len(files) > 3
    result = verify(files)
    assert result.ok and result.records == 300


async def test_batched_mode_has_no_future_and_writes_within_the_batch(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    writer = AuditWriter(log)
    try:
        assert writer.write({"request_id": "r0"}) is None
        writer.flush()
        assert lines(log)[0]["request_id"] == "r0"
    finally:
        writer.close()


class FullDisk:
    """The writer's file handle on a disk that fills up: the first `room` bytes go in, then ENOSPC."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = self.fh.write(data[: self.room])
        self.room -= n
        return int(n)

    def fileno(self) -> int:
        return int(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


async def test_a_failed_write_is_undone_and_reported_and_the_next_group_continues_the_chain(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    writer = AuditWriter(log, acknowledged=True)
    try:
        assert await writer.write_acked({"request_id": "before"}) is None
        size = log.stat().st_size
        real, writer._fh = writer._fh, FullDisk(writer._fh, room=40)  # part of the next line fits
        failure = await writer.write_acked({"request_id": "lost", "pad": "x" * 200})
        assert isinstance(failure, AuditError) and "No space left" in str(failure)
        assert log.stat().st_size == size  # the partial line was cut off again
        assert writer.records_lost == 1
        writer._fh = real  # space again
        assert await writer.write_acked({"request_id": "after"}) is None
    finally:
        writer.close()
    assert [r["request_id"] for r in lines(log)] == ["before", "after"]
    assert verify([log]).ok


def write_records(path: Path, n: int) -> None:
    writer = AuditWriter(path)
    for i in range(n):
        writer.write({"request_id": f"r{i}"})
    writer.close()


def test_a_torn_last_line_passes_verify_and_is_dropped_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "audit.jsonl"
    write_records(log, 3)
    whole = log.read_bytes()
    with log.open("ab") as fh:
        fh.write(b'{"request_id":"r3","prev_hash":"ab')  # a write a SIGKILL cut short
    result = verify([log])
    assert result.ok and result.records == 3 and "cut short by a crash" in result.message
    writer = AuditWriter(log)  # the next start
    writer.write({"request_id": "r4"})
    writer.close()
    assert log.read_bytes().startswith(whole)
    assert [r["request_id"] for r in lines(log)] == ["r0", "r1", "r2", "r4"]
    assert verify([log]).ok
    assert "dropped a record cut short by a crash" in caplog.text


def test_a_torn_line_inside_the_log_still_breaks_verify(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_records(log, 3)
    data = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(data[0] + data[1][:20] + b"\n" + data[2])
    assert not verify([log]).ok
    rotated = tmp_path / "audit.jsonl.1"
    log.rename(rotated)
    rotated.write_bytes(b"".join(data) + b'{"torn')  # a rotated file is always whole
    (tmp_path / "audit.jsonl").write_bytes(b"")
    assert not verify(chain_files(tmp_path / "audit.jsonl")).ok


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_records(log, 2)
    log.write_bytes(log.read_bytes()[:-1])  # the cut fell just before the newline
    write_records(log, 1)
    assert [r["request_id"] for r in lines(log)] == ["r0", "r1", "r0"]
    assert verify([log]).ok


def test_groups_are_written_whole(tmp_path: Path, monkeypatch) -> None:
    """One write(2) per group (per file, across a rotation): a crash cannot leave half of a buffered line
    behind a later one."""
    log = tmp_path / "audit.jsonl"
    writes: list[int] = []
    real_open = Path.open

    class Recording:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def write(self, data: memoryview) -> int:
            writes.append(len(data))
            return int(self.fh.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.fh, name)

    def opened(self: Path, mode: str = "r", *args: Any, **kw: Any) -> Any:
        fh = real_open(self, mode, *args, **kw)
        return Recording(fh) if mode == "ab" else fh

    monkeypatch.setattr(Path, "open", opened)
    monkeypatch.setattr(audit, "BATCH_SECONDS", 0.2)  # all 50 records in one batch
    writer = AuditWriter(log)
    for i in range(50):
        writer.write({"request_id": f"r{i}"})
    writer.close()
    assert len(writes) == 1 and writes[0] == log.stat().st_size
