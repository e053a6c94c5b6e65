"""Context words found in one Hyperscan pass, exactly where a regex alternation of them would find them."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator

from . import hsprefilter
from .pii_words import alternation

_ASCII = [chr(c) for c in range(128)]


def _matches_ascii(ch: str) -> bool:
    """Can ch match an ASCII character when case is ignored (`ı` matches `i`, the Kelvin sign `k`)?"""
    return any(re.fullmatch(re.escape(ch), a, re.IGNORECASE) for a in _ASCII)


class Words:
    """Lower-case words looked for in lower-cased text: `spans(low)` yields what `finditer` of their
    alternation (longest first, case ignored) yields, as (start, end).

    The alternation of a hundred words costs Python's regex engine a try per word at every position whose
    character starts one (0.7 s per MiB of tokens). On ASCII text Hyperscan finds every (start, end) of every
    word in one pass; the leftmost start at or after the last end, with its longest word, is then the next
    match of the regex, as the alternation tries longer words first. Text that is not ASCII, or no
    Hyperscan, takes the regex.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._words = tuple(sorted(set(words)))
        self.regex = re.compile(alternation(self._words), re.IGNORECASE)
        # Words that can match no ASCII text stay out of the database; one that could (through a case
        # equivalence) sends every text to the regex.
        self._exact = all(w.isascii() or not all(map(_matches_ascii, w)) for w in self._words)
        self._ascii = tuple(w for w in self._words if w.isascii())
        self._db: hsprefilter.Spans | None = None
        self._compiled = False
        self._lock = threading.Lock()

    def spans(self, low: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
        stop = len(low) if end is None else end
        db = self._database() if self._exact and self._ascii and low.isascii() else None
        if db is None:
            yield from (m.span() for m in self.regex.finditer(low, start, stop))
            return
        longest: dict[int, int] = {}
        for s, e in db.spans(low.encode("ascii")[start:stop]):
            if e > longest.get(s, -1):
                longest[s] = e
        pos = 0
        for s in sorted(longest):
            if s >= pos:
                pos = longest[s]
                yield start + s, start + pos

    def _database(self) -> hsprefilter.Spans | None:
        """The words' Hyperscan database, compiled on first use; None without Hyperscan."""
        if not self._compiled:
            with self._lock:
                if not self._compiled:
                    self._db = hsprefilter.spans(self._ascii) if hsprefilter.AVAILABLE else None
                    self._compiled = True
        return self._db
