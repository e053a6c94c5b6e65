"""Anomaly baselines in the storage backend: one compressed snapshot per replica, all merged at start-up.

Each replica writes its detector's snapshot under `anomaly:snapshot:<replica id>` (the host name and the
listen address), periodically and at shutdown. At start-up a replica reads every snapshot still stored —
its own from before the restart and its peers' on a shared Redis — and merges them into one fresh
detector (the engine adds slot by slot, see palaryn_proxy.anomaly.snapshot). Exporting runs on the event
loop in small parts; encoding, decoding and merging run in a worker thread, so flows keep being served.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import socket
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from palaryn_proxy.anomaly.config import AnomalyConfig
from palaryn_proxy.anomaly.detector import AnomalyDetector
from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.storage import Storage, StorageConfig, open_storage, redact_url

log = logging.getLogger("palaryn")
SNAPSHOT_PREFIX = "anomaly:snapshot:"
MIN_TTL_SECONDS = 86_400.0  # tools an actor used stay remembered across a day of downtime at least
EXPORT_PART = 250  # entities exported per event-loop step (about 10 ms)
MAX_SNAPSHOTS = 32  # peers merged at start-up, at most
MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024  # decompressed; a corrupt or hostile value cannot exhaust memory
RESTORE_TIMEOUT = 30.0
SAVE_TIMEOUT = 10.0
_COMPACT = (",", ":")


def persists(values: Mapping[str, Any]) -> bool:
    """True when the `anomaly` section asks for baselines in storage (detection on, persist on)."""
    try:
        config = AnomalyConfig.from_mapping(values.get("anomaly"))
    except ConfigError:
        return False  # load_config already reported it
    return config.enabled and config.persist


def open_optional_storage(config: StorageConfig) -> Storage | None:
    """Storage for anomaly baselines only: a store that cannot be opened costs persistence, not the proxy."""
    try:
        return open_storage(config.url, key_prefix=config.key_prefix, write_behind=False)
    except StorageError as exc:
        log.warning("anomaly baselines will not persist: storage %s: %s", redact_url(config.url), exc)
        return None


def replica_id(listen: str) -> str:
    """Unique among live replicas (host name, listen address); need not survive a restart."""
    return f"{socket.gethostname()}:{listen}"


def encode(data: dict[str, Any]) -> str:
    """A detector snapshot as text: zlib-compressed JSON lines (header, then one entity each), base64."""
    head = {k: v for k, v in data.items() if k != "entities"}
    compressor = zlib.compressobj(6)
    chunks = [compressor.compress(json.dumps(head, separators=_COMPACT).encode())]
    for entity in data["entities"]:
        chunks.append(compressor.compress(b"\n" + json.dumps(entity, separators=_COMPACT).encode()))
    chunks.append(compressor.flush())
    return base64.b64encode(b"".join(chunks)).decode("ascii")


def decode(text: str) -> dict[str, Any]:
    """The inverse of `encode`; StorageError when the value is not one."""
    try:
        decompressor = zlib.decompressobj()
        raw = decompressor.decompress(base64.b64decode(text, validate=True), MAX_SNAPSHOT_BYTES)
        if decompressor.unconsumed_tail:
            raise StorageError("anomaly snapshot is larger than the limit")
        lines = raw.split(b"\n")
        data = json.loads(lines[0])
        if not isinstance(data, dict):
            raise StorageError("anomaly snapshot header is not an object")
        data["entities"] = [json.loads(line) for line in lines[1:]]
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise StorageError(f"anomaly snapshot is not readable ({type(exc).__name__})") from exc
    return data


class AnomalyStore:
    """Saves this replica's detector and builds a detector from every stored snapshot."""

    def __init__(self, storage: Storage, config: AnomalyConfig, replica: str) -> None:
        self.storage = storage
        self.config = config
        self.key = SNAPSHOT_PREFIX + replica
        self.ttl = max(float(config.window_seconds), MIN_TTL_SECONDS)

    async def save(self, detector: AnomalyDetector) -> int:
        """Write the detector's snapshot (exported on the loop in parts, encoded off it); returns its size."""
        data, parts = detector.export_parts(EXPORT_PART)
        for part in parts:
            data["entities"].extend(part)
            await asyncio.sleep(0)  # let flows run between parts
        text = await asyncio.to_thread(encode, data)
        await self.storage.put(self.key, text, self.ttl)
        return len(text)

    async def snapshot_keys(self) -> list[str]:
        """This replica's key first, then its peers' (backends without key listing: only its own)."""
        lister = getattr(self.storage, "keys", None)
        found = await lister(SNAPSHOT_PREFIX) if lister is not None else []
        peers = [k for k in found if k != self.key]
        return [self.key, *peers][:MAX_SNAPSHOTS]

    async def load(self) -> tuple[AnomalyDetector, int, int]:
        """A fresh detector holding every readable snapshot: (detector, snapshots merged, entities merged).

        A snapshot that cannot be read is logged and skipped; StorageError only when storage is down."""
        detector = AnomalyDetector(self.config)
        merged = entities = 0
        for key in await self.snapshot_keys():
            text = await self.storage.get(key)
            if text is None:
                continue
            try:
                count = await asyncio.to_thread(_merge, detector, text)
            except StorageError as exc:
                log.warning("anomaly snapshot %s skipped: %s", key, exc)
                continue
            merged += 1
            entities += count
        return detector, merged, entities


class BaselineKeeper:
    """Restores baselines at start, saves them every interval and at shutdown; a failure is logged and
    reported through `on_error`, never raised (flows do not depend on persistence)."""

    def __init__(self, store: AnomalyStore, interval: float, on_error: Callable[[], None]) -> None:
        self.store = store
        self.interval = interval
        self.on_error = on_error
        self._current: Callable[[], AnomalyDetector] | None = None
        self._task: asyncio.Task[None] | None = None

    async def restore(self, live: AnomalyDetector) -> AnomalyDetector:
        """The detector to use from now on: the stored baselines plus what `live` saw while they loaded."""
        try:
            restored, snapshots, entities = await asyncio.wait_for(self.store.load(), RESTORE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - baselines are an optimisation: never stop the proxy starting
            self._failed("restore", exc)
            return live
        if not snapshots:
            return live
        restored.restore_state(live.export_state())  # synchronous: nothing is lost in the hand-over
        log.info("anomaly baselines restored: %d entities from %d snapshot(s)", entities, snapshots)
        return restored

    def start(self, current: Callable[[], AnomalyDetector]) -> None:
        """Save `current()` every interval from a background task."""
        self._current = current
        self._task = asyncio.get_running_loop().create_task(self._every(), name="palaryn-anomaly-save")

    async def stop(self) -> None:
        """Stop the periodic saves and save once more."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._current is not None:
            await self.save(self._current())

    async def save(self, detector: AnomalyDetector) -> None:
        try:
            await asyncio.wait_for(self.store.save(detector), SAVE_TIMEOUT)
        except (StorageError, TimeoutError) as exc:
            self._failed("save", exc)

    async def _every(self) -> None:
        assert self._current is not None
        while True:
            await asyncio.sleep(self.interval)
            await self.save(self._current())

    def _failed(self, what: str, exc: BaseException) -> None:
        self.on_error()
        log.warning("anomaly baselines %s failed: %s", what, exc or type(exc).__name__)


def _merge(detector: AnomalyDetector, text: str) -> int:
    return detector.restore_state(decode(text))
