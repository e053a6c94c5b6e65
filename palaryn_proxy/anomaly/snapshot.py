"""Export detector baselines as JSON-able data and merge snapshots back (after a restart, or from peers).

Slots and buckets are aligned on absolute time, so merging is addition slot by slot: a value metric's
pooled (count, sum, sum of squares) is exactly the baseline of the pooled observations, and a rate
metric's active buckets from every replica become samples of the per-replica rate, which is what each
replica then compares its own traffic against. Recent-outcome bits and repeat fingerprints are not
exported: they cover seconds to minutes and restart empty.
"""

from __future__ import annotations

from typing import Any

from palaryn_proxy.anomaly.config import AnomalyConfig
from palaryn_proxy.anomaly.entities import EntityKey, EntityState, EntityTable, SeenTools
from palaryn_proxy.anomaly.stats import SLOTS, ErrorRate, Grid, Ring, RollingRate, RollingValue
from palaryn_proxy.errors import StorageError

VERSION = 1
_RINGS: dict[str, type[Ring]] = {
    "requests": RollingRate,
    "tokens": RollingRate,
    "cost": RollingRate,
    "request_bytes": RollingValue,
    "response_bytes": RollingValue,
    "latency": RollingValue,
    "errors": ErrorRate,
}


def export_state(table: EntityTable, tools: SeenTools, config: AnomalyConfig) -> dict[str, Any]:
    data = export_header(tools, config)
    data["entities"] = [export_entity(key, state) for key, state in table.items()]
    return data


def export_header(tools: SeenTools, config: AnomalyConfig) -> dict[str, Any]:
    """The snapshot without its entities."""
    return {
        "version": VERSION,
        "window_seconds": config.window_seconds,
        "bucket_seconds": config.bucket_seconds,
        "slots": SLOTS,
        "entities": [],
        "tool_pairs": [list(pair) for pair in tools.pairs()],
    }


def export_entity(key: EntityKey, state: EntityState) -> dict[str, Any]:
    kind, name = key
    entry: dict[str, Any] = {"kind": kind, "name": name}
    for attr in _RINGS:
        stat = getattr(state, attr)
        if stat is not None:
            entry[attr] = stat.export()
    if state.has_tools:
        entry["has_tools"] = True
    if state.max_capability >= 0:
        entry["max_capability"] = state.max_capability
    return entry


def merge_state(
    table: EntityTable, tools: SeenTools, grid: Grid, config: AnomalyConfig, data: dict[str, Any]
) -> int:
    """Add a snapshot into `table`; 0 when it was taken with another window or bucket size."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise StorageError("anomaly snapshot has an unknown format; delete it and let baselines rebuild")
    grid_keys = (data.get("window_seconds"), data.get("bucket_seconds"), data.get("slots"))
    if grid_keys != (config.window_seconds, config.bucket_seconds, SLOTS):
        return 0
    entities = data.get("entities")
    if not isinstance(entities, list):
        raise StorageError("anomaly snapshot has no entity list; delete it and let baselines rebuild")
    for entry in entities:
        _merge_entity(table, grid, entry)
    for pair in data.get("tool_pairs", ()):
        if not isinstance(pair, list) or len(pair) != 2:
            raise StorageError("anomaly snapshot has a malformed tool pair; delete the snapshot")
        tools.remember(str(pair[0]), str(pair[1]))
    return len(entities)


def _merge_entity(table: EntityTable, grid: Grid, entry: Any) -> None:
    try:
        state = table.get((str(entry["kind"]), str(entry["name"])))
        for attr, cls in _RINGS.items():
            if attr in entry:
                _merge_stat(state, grid, attr, cls, entry[attr])
        state.has_tools = state.has_tools or bool(entry.get("has_tools", False))
        state.max_capability = max(state.max_capability, int(entry.get("max_capability", -1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(
            f"anomaly snapshot entity is malformed ({type(exc).__name__}); delete the snapshot"
        ) from exc


def _merge_stat(state: EntityState, grid: Grid, attr: str, cls: type[Ring], data: dict[str, Any]) -> None:
    ring = [float(v) for v in data["ring"]]
    if len(ring) != SLOTS * cls.STRIDE:
        raise ValueError("ring length")
    stat: Ring | None = getattr(state, attr)
    if stat is None:
        stat = cls()
        setattr(state, attr, stat)
    stat.merge_ring(int(data["head"]), ring)
    if isinstance(stat, RollingRate):
        stat.merge_open(grid, int(data["bucket"]), float(data["cur"]), float(data["q2"]))
