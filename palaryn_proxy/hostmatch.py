"""Host glob matching compiled once: exact names in a set, `*.example.com` suffixes, other globs as one regex."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable


class HostMatcher:
    """Matches a host (case-insensitive, trailing dot ignored) against globs.

    `*.example.com` matches sub-domains of example.com at any depth, not example.com itself;
    a bare `example.com` matches exactly; other glob syntax goes through fnmatch.
    """

    def __init__(self, patterns: Iterable[str]):
        self.patterns = tuple(p.strip().lower().rstrip(".") for p in patterns if p.strip())
        self._exact = {p for p in self.patterns if not any(c in p for c in "*?[")}
        self._suffixes = tuple(
            p[1:] for p in self.patterns if p.startswith("*.") and not any(c in p[2:] for c in "*?[")
        )
        others = [
            p
            for p in self.patterns
            if p not in self._exact and not (p.startswith("*.") and p[1:] in self._suffixes)
        ]
        self._regex = re.compile("|".join(fnmatch.translate(p) for p in others)) if others else None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def match(self, host: str) -> str | None:
        """The first pattern that matches `host`, or None."""
        h = host.lower().rstrip(".")
        if h in self._exact:
            return h
        for suffix in self._suffixes:
            if h.endswith(suffix):
                return "*" + suffix
        if self._regex is not None and self._regex.match(h):
            return next(p for p in self.patterns if fnmatch.fnmatchcase(h, p))
        return None
