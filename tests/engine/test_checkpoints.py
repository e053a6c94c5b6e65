"""Signed audit checkpoints: truncation after a checkpoint is found, forged checkpoints are rejected, the
chain head is followed across rotation and restarts, the key is created once with mode 0600."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from palaryn_proxy.audit import AuditWriter, chain_files, verify
from palaryn_proxy.audit.checkpoint import Checkpointer, verify_checkpoints
from palaryn_proxy.audit.options import parse_audit_options
from palaryn_proxy.audit.signing import load_or_create_key, load_public_key, public_pem
from palaryn_proxy.errors import ConfigError


def record(i: int) -> dict:
    return {"request_id": f"r{i}", "decision": "allow", "pad": "x" * 100}


def writer(
    tmp_path: Path, key: Ed25519PrivateKey, interval: float = 0.0, max_bytes: int = 10**8
) -> AuditWriter:
    cp = Checkpointer(key, tmp_path / "audit.jsonl.checkpoints", interval)
    return AuditWriter(tmp_path / "audit.jsonl", max_bytes, checkpointer=cp)


def checkpoints(tmp_path: Path) -> list[dict]:
    path = tmp_path / "audit.jsonl.checkpoints"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def check(tmp_path: Path, key: Ed25519PrivateKey):
    return verify_checkpoints(
        chain_files(tmp_path / "audit.jsonl"), tmp_path / "audit.jsonl.checkpoints", key.public_key()
    )


def drop_last_lines(path: Path, n: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-n]))


def test_shutdown_checkpoint_then_truncation_is_detected(tmp_path):
    key = Ed25519PrivateKey.generate()
    w = writer(tmp_path, key)
    for i in range(5):
        w.write(record(i))
    w.close()
    (cp,) = checkpoints(tmp_path)
    assert (cp["reason"], cp["file_records"]) == ("shutdown", 5)
    assert check(tmp_path, key).ok
    drop_last_lines(tmp_path / "audit.jsonl", 2)
    assert verify(chain_files(tmp_path / "audit.jsonl")).ok  # the chain alone cannot tell
    result = check(tmp_path, key)
    assert not result.ok and "records removed from the end" in result.message
    assert "signed 5 records, the file has 3" in result.message


def test_forged_and_foreign_checkpoints_are_rejected(tmp_path):
    key = Ed25519PrivateKey.generate()
    w = writer(tmp_path, key)
    for i in range(4):
        w.write(record(i))
    w.close()
    drop_last_lines(tmp_path / "audit.jsonl", 1)
    path = tmp_path / "audit.jsonl.checkpoints"
    forged = dict(
        checkpoints(tmp_path)[0],
        file_records=3,
        last_hash=json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])["hash"],
    )
    path.write_text(json.dumps(forged) + "\n")
    result = check(tmp_path, key)
    assert not result.ok and "forged or altered" in result.message
    # Signed by another key: an attacker's own key does not pass for the proxy's.
    other = Ed25519PrivateKey.generate()
    path.unlink()
    Checkpointer(other, path).sign(forged["file_start"], 3, forged["last_hash"], "interval")
    result = check(tmp_path, key)
    assert not result.ok and "signed by another key" in result.message
    assert check(tmp_path, other).ok


def test_interval_rotation_and_restart(tmp_path):
    key = Ed25519PrivateKey.generate()
    w = writer(tmp_path, key, interval=0.05, max_bytes=1500)
    for i in range(25):
        w.write(record(i))
    w.flush()
    deadline = time.monotonic() + 5
    while not any(c["reason"] == "interval" for c in checkpoints(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.02)
    w.close()
    reasons = [c["reason"] for c in checkpoints(tmp_path)]
    assert "rotation" in reasons and "interval" in reasons
    files = chain_files(tmp_path / "audit.jsonl")
    assert len(files) > 2
    assert check(tmp_path, key).ok
    # A restart continues the count of the current file.
    w = writer(tmp_path, key)
    w.write(record(99))
    w.close()
    newest = checkpoints(tmp_path)[-1]
    current = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert newest["file_records"] == len(current) and newest["last_hash"] == json.loads(current[-1])["hash"]
    assert check(tmp_path, key).ok
    # A rotated file cut short is found by its rotation checkpoint.
    drop_last_lines(files[0], 1)
    result = verify_checkpoints(files[:1], tmp_path / "audit.jsonl.checkpoints", key.public_key())
    assert not result.ok


def test_removing_the_newest_file_is_detected(tmp_path):
    key = Ed25519PrivateKey.generate()
    w = writer(tmp_path, key, max_bytes=1500)
    for i in range(20):
        w.write(record(i))
    w.close()
    files = chain_files(tmp_path / "audit.jsonl")
    assert check(tmp_path, key).ok
    result = verify_checkpoints(files[:-1], tmp_path / "audit.jsonl.checkpoints", key.public_key())
    assert not result.ok and "newest checkpoint" in result.message
    (tmp_path / "audit.jsonl").write_bytes(b"")
    assert not check(tmp_path, key).ok


def test_nothing_new_means_no_new_checkpoint(tmp_path):
    key = Ed25519PrivateKey.generate()
    w = writer(tmp_path, key)
    w.checkpoint()
    w.flush()
    assert checkpoints(tmp_path) == []  # an empty log has no head to sign
    w.write(record(1))
    w.checkpoint()
    w.flush()
    w.checkpoint()
    w.flush()
    w.close()
    assert [c["reason"] for c in checkpoints(tmp_path)] == ["interval"]


def test_key_created_once_with_owner_only_mode(tmp_path):
    path = tmp_path / "keys" / "audit.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_key(path)
    assert public_pem(again) == public_pem(key)
    pub = tmp_path / "audit.pub"
    pub.write_text(public_pem(key))
    assert load_public_key(pub) == key.public_key()


def test_options():
    options = parse_audit_options({"signing_key": "/k", "checkpoint_seconds": 30})
    assert options.checkpoint_seconds == 30 and options.checkpoints_path("/a.jsonl") == "/a.jsonl.checkpoints"
    with pytest.raises(ConfigError, match="checkpoint_seconds"):
        parse_audit_options({"checkpoint_seconds": -1})
    with pytest.raises(ConfigError, match="need `audit.signing_key`"):
        parse_audit_options({"checkpoint_url": "http://127.0.0.1:1/x"})
    with pytest.raises(ConfigError, match="http"):
        parse_audit_options({"signing_key": "/k", "checkpoint_url": "ftp://x"})
