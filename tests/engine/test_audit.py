"""The audit log's hash chain: verification, rotation, restart, URL masking."""

from __future__ import annotations

import json

from palaryn_proxy.audit import AuditWriter, chain_files, mask_url, verify

SENSITIVE = frozenset({"key", "token", "sig"})


def write_records(path, n, max_bytes=10**9, start=0):
    writer = AuditWriter(path, max_bytes=max_bytes)
    for i in range(start, start + n):
        writer.write({"request_id": f"r{i}", "n": i})
    writer.close()


def test_chain_verifies_and_detects_edits(tmp_path):
    log = tmp_path / "audit.jsonl"
    write_records(log, 5)
    assert verify([log]).ok
    lines = log.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["n"] = 99
    log.write_text("\n".join(lines[:2] + [json.dumps(rec)] + lines[3:]) + "\n")
    result = verify([log])
    assert not result.ok and ":3:" in result.message + ":" and "altered" in result.message


def test_reordering_and_deletion_detected(tmp_path):
    log = tmp_path / "audit.jsonl"
    write_records(log, 4)
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    assert "removed, inserted or reordered" in verify([log]).message


def test_chain_continues_across_rotation_and_restart(tmp_path):
    log = tmp_path / "audit.jsonl"
    write_records(log, 30, max_bytes=600)
    write_records(log, 5, max_bytes=600, start=30)  # a restart continues the chain
    files = chain_files(log)
    assert len(files) > 3 and files[-1] == log
    result = verify(files)
    assert result.ok and result.records == 35
    assert not verify([files[0], *files[2:]]).ok  # a missing rotated file breaks the chain


def test_mask_url():
    url = "https://u:pw@h.test/p?key=abc&q=ok&Token=zz"
    masked = mask_url(url, SENSITIVE)
    assert "abc" not in masked and "zz" not in masked and "pw" not in masked
    assert "q=ok" in masked and "key=***" in masked
    assert mask_url("https://h.test/p?q=1", SENSITIVE) == "https://h.test/p?q=1"
