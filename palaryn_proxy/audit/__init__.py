"""Audit stage engine: the tamper-evident, hash-chained JSONL audit log (writer, reader, verifier)."""

from palaryn_proxy.audit.log import (
    Ack,
    AuditWriter,
    VerifyResult,
    build_record,
    chain_files,
    mask_url,
    read_records,
    verify,
)

__all__ = [
    "Ack",
    "AuditWriter",
    "VerifyResult",
    "build_record",
    "chain_files",
    "mask_url",
    "read_records",
    "verify",
]
