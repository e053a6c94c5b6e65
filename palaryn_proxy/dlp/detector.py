"""The declarative detector: an anchored pattern, the literals that must be present, and its validators."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .shapes import MARK, NUMBERISH, runs, shape
from .validators import is_placeholder, shannon_entropy

SECRETS = "secrets"
PII = "pii"


Span = tuple[int, int, str]
_NUMBER_RUN = re.compile(r"[+(\d][\d ().-]{6,}+")


class TextView:
    """A text being scanned and what detectors share about it, computed on first use."""

    __slots__ = ("text", "_low", "_numbers", "_shapes", "_has", "_found")

    def __init__(self, text: str, low: str | None = None) -> None:
        self.text = text
        self._low = low
        self._numbers: list[tuple[int, int]] | None = None
        self._shapes: dict[bytes, bytes] = {}
        self._has: dict[tuple[bytes, bytes], bool] = {}
        self._found: dict[tuple[str, bool], int] = {}

    @property
    def low(self) -> str:
        if self._low is None:
            self._low = self.text.lower()
        return self._low

    def find(self, literal: str, low: bool = False) -> int:
        """The first position of literal in the text (low: in its lower-cased copy), -1 if none; kept, as
        the prefilter and a detector's `starts` look for the same words."""
        key = (literal, low)
        got = self._found.get(key)
        if got is None:
            got = self._found[key] = (self.low if low else self.text).find(literal)
        return got

    def known_gates(self, answers: dict[tuple[bytes, bytes], bool]) -> None:
        """Record answers to `has` found another way (one Hyperscan scan tests every gate at once)."""
        self._has.update(answers)

    def has(self, table: bytes, needle: bytes) -> bool:
        """Does the text's shape under `table` (see shapes) contain needle? Shapes and answers are kept."""
        key = (table, needle)
        got = self._has.get(key)
        if got is None:
            sh = self._shapes.get(table)
            if sh is None:
                sh = self._shapes[table] = shape(self.text, table)
            got = self._has[key] = needle in sh
        return got

    def number_runs(self) -> list[tuple[int, int]]:
        """Maximal runs of number-ish characters (digits, spaces, `().-+`) of 7+ characters: the only
        places a phone number, SSN or card number can be; one scan serves all those detectors."""
        if self._numbers is None:
            text = self.text
            if text.isascii():  # the regex runs only where the shape has a run of 7 such characters
                found = runs(text, NUMBERISH, 7)
                self._numbers = [m.span() for s, e in found for m in _NUMBER_RUN.finditer(text, s, e)]
            elif self.has(NUMBERISH, MARK * 7):
                self._numbers = [m.span() for m in _NUMBER_RUN.finditer(text)]
            else:
                self._numbers = []
            if any(e - s > _LONG_RUN for s, e in self._numbers):
                self._numbers = [w for run in self._numbers for w in _ends(*run)]
        return self._numbers


# A run of digit groups longer than this is a table of numbers, not text holding a phone, SSN or card
# number (at most 19 digits and their separators): only its two ends are searched (a MiB of `4111 ` would
# otherwise validate a candidate every five characters).
_LONG_RUN = 4096
_END = 64


def _ends(s: int, e: int) -> list[tuple[int, int]]:
    return [(s, e)] if e - s <= _LONG_RUN else [(s, s + _END), (e - _END, e)]


@dataclass(frozen=True, slots=True)
class Detector:
    """One way of finding one type of secret or personal data.

    `keywords` (case-sensitive) and `ikeywords` (lower-case, matched case-insensitively) feed the prefilter:
    the pattern runs only on text containing one of them. `trigger` is a cheap search used instead when no
    literal exists (digits for PII). A detector with `key` runs only on values whose field name (JSON key,
    form or query parameter) matches it, and then on the whole value.

    Patterns start with their literal prefix where there is one, so the regex engine can skip ahead fast;
    the left boundary is then checked by `not_after` (a pattern that must not match just before the value).
    `lower` patterns run on the lower-cased text (values are still read from the original). A pattern that
    starts with one of several literals (an alternation) names them in `starts`: the scan begins at the
    first one found. `gate` is a necessary condition on the text's shape (see shapes), tested first by
    the prefilter too.
    """

    type: str
    group: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    ikeywords: tuple[str, ...] = ()
    trigger: re.Pattern[str] | None = None
    value_group: int | str = 0
    validate: Callable[[str], bool] | None = None
    placeholder_check: bool = True
    min_entropy: float = 0.0
    entropy_skip: int = 0  # leading characters (a public prefix) left out of the entropy test
    key: re.Pattern[str] | None = None
    key_filter: Callable[[str], bool] | None = None  # further test of the field name of a keyed detector
    priority: int = 50
    preview: int = 0  # leading characters that are a public prefix, shown in audit previews (at most 4)
    not_after: re.Pattern[str] | None = None
    lower: bool = False
    match_filter: Callable[[str, re.Match[str]], bool] | None = None  # e.g. reject `next_page_token = ...`
    finder: Callable[[str], Iterator[Span]] | None = None  # replaces the pattern scan (email, IBAN)
    in_numbers: bool = False  # search only the view's number runs (phone, SSN, card)
    anchors: tuple[str, ...] = ()  # literal prefixes the value starts with: found with str.find, then matched
    starts: tuple[str, ...] = ()  # every match of the pattern (in the text it scans) starts with one of these
    gate: tuple[bytes, bytes] | None = None  # (table, needle): no match unless TextView.has(table, needle)
    lead: str | None = None  # for Hyperscan instead of `starts`: a regex all (lower-cased) matches begin with
    # (table, length, tail, reach): no match starts in a run of `length`+ marks of the shape under `table`
    # (see shapes) except in its last `tail` characters, and no match attempt reads more than `reach`
    # characters: the scan skips those runs (see _windows)
    dead_runs: tuple[bytes, int, int, int] | None = None

    def find(self, view: TextView) -> Iterator[Span]:
        """Yield (start, end, value) of every validated match in the view's text."""
        if self.gate is not None and not view.has(*self.gate):
            return
        text = view.text
        if self.finder is not None:
            for s, e, value in self.finder(text):
                if self.accepts(value):
                    yield s, e, value
            return
        if self.anchors:
            yield from self._anchored(text)
            return
        source = text
        if self.lower:
            source = view.low if len(view.low) == len(text) else text
        if self.in_numbers:
            search, n = self.pattern.search, len(text)
            for ws, we in view.number_runs():
                # endpos we+1: the character after the run is visible to the pattern's lookahead. Most runs
                # hold no match: one search tells, before a scan is set up (a MiB of hex has 65,536 runs).
                if search(source, ws, min(we + 1, n)) is not None:
                    yield from self._scan(text, source, ws, min(we + 1, n))
        elif self.starts:  # no match begins before the first of these literals (in `source`)
            first = [p for p in (view.find(lit, source is not text) for lit in self.starts) if p != -1]
            if first and self.dead_runs is not None:
                for x, y, limit in _windows(source, min(first), len(text), self.dead_runs):
                    yield from self._scan(text, source, x, limit, y)
            elif first:
                yield from self._scan(text, source, min(first), len(text))
        else:
            yield from self._scan(text, source, 0, len(text))

    def _anchored(self, text: str) -> Iterator[Span]:
        """Match only where a prefix occurs and the left boundary holds: linear even on adversarial input
        (a long run of repeated prefixes costs one bounded match, not one per occurrence)."""
        run_end = _GLUED_RUN_END.get(self.not_after.pattern) if self.not_after is not None else None
        for anchor in self.anchors:
            pos = text.find(anchor)
            while pos != -1:
                nxt = pos + 1
                if (
                    self.not_after is not None
                    and pos > 0
                    and self.not_after.search(text, max(0, pos - 2), pos)
                ):
                    if run_end is not None:
                        # Glued to the token before: so is every later start up to the end of the run of
                        # token characters from here, and the one just after it (a MiB of `AKIA` or of `A`
                        # costs one search, not one per prefix).
                        end = run_end.search(text, pos)
                        nxt = max(nxt, end.start() + 1 if end is not None else len(text))
                else:
                    m = self.pattern.match(text, pos)
                    if m is not None:
                        s, e = m.span(self.value_group)
                        value = text[s:e]
                        if (
                            value
                            and self.accepts(value)
                            and (self.match_filter is None or self.match_filter(text, m))
                        ):
                            yield s, e, value
                            nxt = e
                pos = text.find(anchor, nxt)

    def _scan(
        self, text: str, source: str, pos: int, endpos: int, before: int | None = None
    ) -> Iterator[Span]:
        """Matches in source[pos:endpos] (that start before `before`, when given)."""
        vg = self.value_group
        skip = _token_skipper(self.not_after)
        while True:
            m = self.pattern.search(source, pos, endpos)
            if m is None or (before is not None and m.start() >= before):
                return
            s, e = m.span(vg)
            value = text[s:e]
            glued = self.not_after is not None and s > 0 and self.not_after.search(text, max(0, s - 2), s)
            ok = (
                s >= 0
                and value
                and not glued
                and self.accepts(value)
                and (self.match_filter is None or self.match_filter(text, m))
            )
            if ok:
                yield s, e, value
                pos = max(m.end(), pos + 1)
            elif skip is not None and s == m.start():
                # Any other start up to the end of this token is glued to it, so cannot be valid: resume
                # after the token (a 1 MiB run of digit groups costs one search per group, not per digit).
                end = skip.search(text, s)
                pos = max(end.start() + 1 if end else endpos, pos + 1)
            else:  # a rejected candidate may hide a valid one that starts inside it
                pos = max(m.start() + 1, pos + 1)

    def applies_to_key(self, key: str) -> bool:
        assert self.key is not None
        return self.key.search(key) is not None and (self.key_filter is None or self.key_filter(key))

    def accepts(self, value: str) -> bool:
        if self.placeholder_check and is_placeholder(value):
            return False
        if self.min_entropy and shannon_entropy(value[self.entropy_skip :]) < self.min_entropy:
            return False
        return self.validate is None or self.validate(value)


def _windows(
    source: str, pos: int, endpos: int, dead: tuple[bytes, int, int, int]
) -> list[tuple[int, int, int]]:
    """(from, before, endpos) of the stretches of source[pos:endpos] where a match may start, around the
    detector's dead runs: each stretch is searched up to `reach` past its end, which no attempt starting in
    it reads beyond, so it finds what a search of the whole text finds there. A run cut short by pos or
    endpos yields a smaller dead zone, never a larger one. Non-ASCII text (byte offsets in the shape) is
    searched whole."""
    table, length, tail, reach = dead
    out: list[tuple[int, int, int]] = []
    x = pos
    found = runs(source, table, length) if source.isascii() else ()
    for a, b in found:
        a, b = max(a, pos), min(b, endpos)
        if b - tail > a + reach:  # skipping it saves more than the window's overreach costs
            out.append((x, a, min(endpos, a + reach)))
            x = b - tail
    out.append((x, endpos, endpos))
    return out


_SKIPPERS: dict[str, re.Pattern[str] | None] = {}


def _token_skipper(not_after: re.Pattern[str] | None) -> re.Pattern[str] | None:
    """For a left boundary that is one character class (`[\\w-]$`): a search for the first character outside
    the class, where the glued token ends. None for other boundaries (lookbehinds, alternations)."""
    if not_after is None:
        return None
    pattern = not_after.pattern
    if pattern not in _SKIPPERS:
        cls = pattern.removesuffix("$").removesuffix("\\Z")
        single = cls.startswith("[") and cls.endswith("]") and cls != pattern and "]" not in cls[1:-1]
        _SKIPPERS[pattern] = re.compile("[^" + cls[1:-1] + "]") if single else None
    return _SKIPPERS[pattern]


def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a detector pattern; every repetition in it must be bounded (see test_adversarial)."""
    return re.compile(pattern, flags)


# Left boundaries (as `not_after`): the value may not continue a longer token. A literal escape (`\n`
# inside JSON held in a string) counts as a boundary.
TOKEN_BEFORE = rx(r"[A-Za-z0-9_-]\Z(?<!\\[nrt])")  # \Z, not $: `$` also matches before a final newline
B64_BEFORE = rx(r"[A-Za-z0-9_+/=-]\Z(?<!\\[nrt])")
# The left boundaries above, by pattern: the first character after a run of the characters each one rejects
# before a value (see Detector._anchored). Neither class holds a backslash, so inside a run the `\n`
# exception cannot apply.
_GLUED_RUN_END = {
    TOKEN_BEFORE.pattern: re.compile(r"[^A-Za-z0-9_-]"),
    B64_BEFORE.pattern: re.compile(r"[^A-Za-z0-9_+/=-]"),
}
B_END = r"(?![A-Za-z0-9_-])"
B64_END = r"(?![A-Za-z0-9_+/=-])"


def assignment(key: str, value: str) -> str:
    """`KEY=value`, `key: "value"`, `"key": "value"`, `key => 'value'`, for a lower-case `key` pattern run
    on lower-cased text (Detector.lower): the value is captured as group 1."""
    return (
        rf"(?:{key})[a-z0-9_.-]{{0,24}}?(?:\\?[\"'])?\s{{0,3}}(?::=|=>|=|:)\s{{0,3}}(?:\\?[\"'`])?"
        rf"({value})(?![A-Za-z0-9_+/=-])"
    )
