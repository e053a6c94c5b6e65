"""Texts already scanned without a hit, so the history an agent re-sends every turn is not scanned again.

An LLM request carries the whole conversation: each turn repeats every earlier message and adds one. A
segment's hits depend only on its text (no detector can match across segments, keyed segments are never
remembered, nor texts holding a base64 run that decoding could open), so a text once found clean stays
clean under the same compiled scanner. The cache is bounded by the characters it holds and starts over
when full; a config reload builds a new scanner and with it a new cache.
"""

from __future__ import annotations

MIN_CHARS = 128  # shorter texts cost less to scan than to remember


class CleanCache:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._texts: set[str] = set()
        self._chars = 0

    def __contains__(self, text: str) -> bool:
        return text in self._texts

    def add(self, text: str) -> None:
        if len(text) < MIN_CHARS or text in self._texts:
            return
        if self._chars + len(text) > self.max_chars:
            self._texts.clear()
            self._chars = 0
            if len(text) > self.max_chars:
                return
        self._texts.add(text)
        self._chars += len(text)

    def __len__(self) -> int:
        return len(self._texts)
