"""Bounded detector state: per-entity baselines, the (actor, tool) pairs seen, and recent request fingerprints.

Every table is an LRU with a fixed capacity, so memory stays bounded however many actors, hosts and
URLs pass through; the least recently used entry is evicted first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator

from palaryn_proxy.anomaly.stats import ErrorRate, RollingRate, RollingValue

TOOLS_PER_ENTITY = 8  # the (actor, tool) table holds this many pairs per tracked entity

EntityKey = tuple[str, str]  # (kind, name)


class EntityState:
    """Everything kept about one actor, tool or workspace; metrics are created on first use."""

    __slots__ = (
        "requests",
        "request_bytes",
        "response_bytes",
        "latency",
        "tokens",
        "cost",
        "errors",
        "has_tools",
        "max_capability",
        "off_hours_at",
        "alerted",
        "shares",
    )

    def __init__(self) -> None:
        self.requests: RollingRate | None = None
        self.request_bytes: RollingValue | None = None
        self.response_bytes: RollingValue | None = None
        self.latency: RollingValue | None = None
        self.tokens: RollingRate | None = None
        self.cost: RollingRate | None = None
        self.errors: ErrorRate | None = None
        self.has_tools = False  # an actor's first tool ever is not "new"
        self.max_capability = -1
        self.off_hours_at: float | None = None
        self.alerted: dict[str, int] | None = None  # anomaly type -> the last bucket it alerted in
        self.shares: ActorShares | None = None  # a workspace's or tool's requests per actor, open bucket

    def share_of(self, bucket: int, actor: str) -> None:
        """Count one request of `actor` towards this (workspace or tool) entity in `bucket`."""
        shares = self.shares
        if shares is None:
            shares = self.shares = ActorShares()
        shares.add(bucket, actor)

    def first_alert_in(self, kind: str, bucket: int) -> bool:
        """True (and remembered) when `kind` has not alerted for this entity in `bucket` yet."""
        alerted = self.alerted
        if alerted is None:
            self.alerted = {kind: bucket}
            return True
        if alerted.get(kind) == bucket:
            return False
        alerted[kind] = bucket
        return True


class ActorShares:
    """Requests per actor in the open rate bucket of one workspace or tool, for blaming its spikes.

    At most MAX_ACTORS actors are counted; a newcomer to a full table replaces the smallest count, which
    can only under-count the newcomer (never blame an actor for more than it sent)."""

    MAX_ACTORS = 16
    __slots__ = ("bucket", "counts", "total")

    def __init__(self) -> None:
        self.bucket = -1
        self.counts: dict[str, int] = {}
        self.total = 0

    def add(self, bucket: int, actor: str) -> None:
        counts = self.counts
        if bucket != self.bucket:
            self.bucket, self.total = bucket, 0
            counts.clear()
        self.total += 1
        if actor in counts:
            counts[actor] += 1
        elif len(counts) < self.MAX_ACTORS:
            counts[actor] = 1
        else:
            del counts[min(counts, key=counts.__getitem__)]
            counts[actor] = 1

    def culprit(self, share: float) -> str | None:
        """The actor that sent at least `share` of the bucket's requests, if one did."""
        if not self.counts:
            return None
        actor = max(self.counts, key=self.counts.__getitem__)
        return actor if self.counts[actor] >= share * self.total else None


class EntityTable:
    """LRU map of entity state, never more than `capacity` entries."""

    __slots__ = ("capacity", "evictions", "_items")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.evictions = 0
        self._items: OrderedDict[EntityKey, EntityState] = OrderedDict()

    def get(self, key: EntityKey) -> EntityState:
        items = self._items
        state = items.get(key)
        if state is not None:
            items.move_to_end(key)
            return state
        state = items[key] = EntityState()
        if len(items) > self.capacity:
            items.popitem(last=False)
            self.evictions += 1
        return state

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Iterator[tuple[EntityKey, EntityState]]:
        return iter(list(self._items.items()))


class SeenTools:
    """The (actor, tool) pairs seen, LRU-bounded; an evicted pair counts as new when it comes back."""

    __slots__ = ("capacity", "_items")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], None] = OrderedDict()

    def remember(self, actor: str, tool: str) -> bool:
        """Record the pair; True when it was not known."""
        key = (actor, tool)
        items = self._items
        if key in items:
            items.move_to_end(key)
            return False
        items[key] = None
        if len(items) > self.capacity:
            items.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._items)

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._items)


class RepeatTracker:
    """Timestamps of the last `threshold` sightings of each request fingerprint, LRU-bounded."""

    __slots__ = ("capacity", "threshold", "window", "_items")

    def __init__(self, capacity: int, threshold: int, window: float) -> None:
        self.capacity = capacity
        self.threshold = threshold
        self.window = window
        self._items: OrderedDict[Hashable, list[float]] = OrderedDict()

    def hit(self, key: Hashable, now: float) -> int:
        """Record a sighting; return how many sightings (at most `threshold`) fall inside the window."""
        items = self._items
        seen = items.get(key)
        if seen is None:
            items[key] = [now]
            if len(items) > self.capacity:
                items.popitem(last=False)
            return 1
        items.move_to_end(key)
        cutoff = now - self.window
        while seen and seen[0] < cutoff:
            del seen[0]
        seen.append(now)
        if len(seen) > self.threshold:
            del seen[0]
        return len(seen)

    def __len__(self) -> int:
        return len(self._items)
