"""Remember which unpriced models were already reported, so callers warn once per model (bounded memory)."""

from __future__ import annotations


class UnpricedModels:
    """`first_time(provider, model)` is True once per pair; after `limit` distinct pairs it stays False.

    Model names come from clients, so the set is capped: past the cap new names are no longer logged
    (the `palaryn_unpriced_requests_total` metric still counts every request).
    """

    def __init__(self, limit: int = 1000) -> None:
        self._limit = limit
        self._seen: set[tuple[str, str]] = set()

    def first_time(self, provider: str, model: str | None) -> bool:
        key = (provider, model or "")
        if key in self._seen or len(self._seen) >= self._limit:
            return False
        self._seen.add(key)
        return True

    def __len__(self) -> int:
        return len(self._seen)
