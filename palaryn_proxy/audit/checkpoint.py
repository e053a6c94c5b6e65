"""Signed audit checkpoints: the chain head (file, record count, last hash, time) signed with Ed25519.

The hash chain shows a record altered, inserted or removed in the middle, but not records cut from the end.
A checkpoint signs where the chain stood: `file_start` (the `prev_hash` of the file's first record, which
names the file whatever it is renamed to by rotation), `file_records` (records in that file) and `last_hash`.
The writer thread signs one every `audit.checkpoint_seconds` (when records were added), at each rotation
(the file being closed) and at shutdown, appends it to the checkpoint file and may POST it elsewhere, where
removing it is harder. `verify_checkpoints` then finds every signed head in the files given: records removed
after a checkpoint, or a checkpoint not signed by the key, fail. Records after the newest checkpoint are
covered by the chain only.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from palaryn_proxy.audit.log import VerifyResult, canonical, verify
from palaryn_proxy.audit.options import AuditOptions
from palaryn_proxy.audit.signing import is_valid, key_id

log = logging.getLogger("palaryn")
VERSION = 1
POST_TIMEOUT_SECONDS = 5.0
POST_QUEUE = 100  # checkpoints waiting to be POSTed; older ones are dropped (the file keeps them)


def signed_message(checkpoint: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in checkpoint.items() if k != "sig"})


class Checkpointer:
    """Signs and stores checkpoints; `sign` runs on the audit writer thread, POSTs on a thread of their own."""

    def __init__(
        self,
        key: Ed25519PrivateKey,
        path: str | Path,
        interval_seconds: float = 0.0,
        url: str | None = None,
        on_post_failure: Callable[[], None] | None = None,
    ):
        self.key = key
        self.key_id = key_id(key.public_key())
        self.path = Path(path)
        self.interval = interval_seconds
        self.url = url
        self.on_post_failure = on_post_failure
        self.last: tuple[str, int, str] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._posts: queue.Queue[bytes | None] = queue.Queue(POST_QUEUE)
        self._threads: list[threading.Thread] = []

    def start(self, request: Callable[[], None]) -> None:
        """Call `request` (the writer's `checkpoint`) every interval, and start the POST thread."""
        if self.interval > 0:
            self._spawn(self._tick, request, "palaryn-audit-checkpoint")
        if self.url:
            self._spawn(self._post_loop, None, "palaryn-audit-checkpoint-post")

    def _spawn(self, target: Callable[..., None], arg: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=(arg,) if arg else (), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _tick(self, request: Callable[[], None]) -> None:
        while not self._stop.wait(self.interval):
            request()

    def sign(self, file_start: str, file_records: int, last_hash: str, reason: str) -> dict[str, Any] | None:
        """Sign and append the head, unless nothing was written since the last checkpoint."""
        head = (file_start, file_records, last_hash)
        if file_records == 0 or head == self.last:
            return None
        checkpoint: dict[str, Any] = {
            "v": VERSION,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "reason": reason,
            "file_start": file_start,
            "file_records": file_records,
            "last_hash": last_hash,
            "key_id": self.key_id,
        }
        checkpoint["sig"] = base64.b64encode(self.key.sign(signed_message(checkpoint))).decode()
        line = canonical(checkpoint) + b"\n"
        try:
            with self.path.open("ab") as fh:
                fh.write(line)
        except OSError as exc:
            log.error("audit checkpoints %s: cannot write: %s", self.path, exc.strerror)
            return None
        self.last = head
        if self.url:
            try:
                self._posts.put_nowait(line)
            except queue.Full:
                log.warning("audit checkpoints: POST queue full, one checkpoint kept in the file only")
        return checkpoint

    def _post_loop(self) -> None:
        while (line := self._posts.get()) is not None:
            assert self.url is not None
            request = urllib.request.Request(
                self.url, data=line, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as answer:
                    answer.read()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.warning("audit checkpoints: POST to %s failed: %s", self.url, exc)
                if self.on_post_failure is not None:
                    self.on_post_failure()

    def close(self, timeout: float = POST_TIMEOUT_SECONDS) -> None:
        self._stop.set()
        if self.url:
            try:
                self._posts.put(None, timeout=timeout)
            except queue.Full:
                pass
        for thread in self._threads:
            thread.join(timeout)


def _file_heads(files: Iterable[str | Path]) -> dict[str, tuple[str, list[str]]]:
    """file_start -> (file, hashes of its records in order), for files whose chain already verified."""
    heads: dict[str, tuple[str, list[str]]] = {}
    for path in files:
        start: str | None = None
        hashes: list[str] = []
        with Path(path).open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:  # a torn last line (verify reported it)
                    continue
                if start is None:
                    start = record["prev_hash"]
                hashes.append(record["hash"])
        if start is not None:
            heads[start] = (str(path), hashes)
    return heads


def read_checkpoints(path: str | Path, public: Ed25519PublicKey) -> tuple[list[dict[str, Any]], str | None]:
    """The checkpoints of a file, each signature checked; the error names the first bad line."""
    wanted = key_id(public)
    checkpoints: list[dict[str, Any]] = []
    with Path(path).open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                checkpoint = json.loads(line)
                signature = base64.b64decode(checkpoint["sig"], validate=True)
                fields = (checkpoint["file_start"], int(checkpoint["file_records"]), checkpoint["last_hash"])
            except (ValueError, KeyError, TypeError):
                return checkpoints, f"{where}: not a valid checkpoint"
            if not is_valid(public, signature, signed_message(checkpoint)):
                other = checkpoint.get("key_id") != wanted
                why = "signed by another key" if other else "forged or altered: its signature does not verify"
                return checkpoints, f"{where}: checkpoint of {checkpoint.get('ts')} {why}"
            if not all(isinstance(f, str) for f in (fields[0], fields[2])):
                return checkpoints, f"{where}: not a valid checkpoint"
            checkpoints.append(checkpoint)
    return checkpoints, None


def verify_checkpoints(
    files: Iterable[str | Path], checkpoints_path: str | Path, public: Ed25519PublicKey
) -> VerifyResult:
    """The chain of `files`, then every signed checkpoint against it: the newest must be in the files given."""
    paths = list(files)
    chain = verify(paths)
    if not chain.ok:
        return chain
    try:
        checkpoints, error = read_checkpoints(checkpoints_path, public)
    except OSError as exc:
        return VerifyResult(False, chain.records, f"{checkpoints_path}: cannot read: {exc.strerror}")
    if error is not None:
        return VerifyResult(False, chain.records, error)
    if not checkpoints:
        return VerifyResult(False, chain.records, f"{checkpoints_path}: no checkpoints")
    heads = _file_heads(paths)
    checked = 0
    for index, checkpoint in enumerate(checkpoints):
        found = heads.get(checkpoint["file_start"])
        when = checkpoint["ts"]
        if found is None:
            if index == len(checkpoints) - 1:
                return VerifyResult(
                    False,
                    chain.records,
                    f"the newest checkpoint ({when}) signs records that are in none of the files given "
                    "(a file was removed or emptied, or is missing from the command)",
                )
            continue  # an older file not given: verified when it is
        name, hashes = found
        signed = int(checkpoint["file_records"])
        if len(hashes) < signed:
            return VerifyResult(
                False,
                chain.records,
                f"{name}: records removed from the end: the checkpoint of {when} signed {signed} records, "
                f"the file has {len(hashes)}",
            )
        if hashes[signed - 1] != checkpoint["last_hash"]:
            return VerifyResult(
                False,
                chain.records,
                f"{name}: record {signed} differs from the one the checkpoint of {when} signed",
            )
        checked += 1
    newest = checkpoints[-1]
    return VerifyResult(
        True,
        chain.records,
        f"{chain.message}; {checked} checkpoint(s) verified, the newest of {newest['ts']} "
        f"({newest['file_records']} records of {heads[newest['file_start']][0]})",
    )


def open_checkpointer(options: AuditOptions, audit_log: str) -> Checkpointer | None:
    """The checkpointer the `audit` section asks for (`signing_key` set), its key created on first use."""
    from palaryn_proxy.audit.signing import load_or_create_key

    if options.signing_key is None:
        return None
    return Checkpointer(
        load_or_create_key(options.signing_key),
        options.checkpoints_path(audit_log),
        options.checkpoint_seconds,
        options.checkpoint_url,
    )
