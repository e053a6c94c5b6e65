"""Hyperscan in front of the detectors: each one's pattern, loosened into a necessary condition, in one database."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .detector import Detector
from .shapes import BASE64, DIGITS, MARK, NUMBERISH, NUMBERISH_SLASH

hyperscan: Any
try:  # the wheel bundles Intel's library; without it the pure-Python keyword prefilter runs (registry.py)
    import hyperscan
except ImportError:  # pragma: no cover - no wheel for this platform (Windows)
    hyperscan = None

AVAILABLE = hyperscan is not None
_GENERIC = 10  # the priority of detectors without a vendor (generic_secret): their words are common in prose
_OPEN_REPEAT = 32  # a bounded repeat above this many becomes open-ended: compiling large counts is slow


def loosen(pattern: str) -> str:
    """A Hyperscan expression every match of the Python `pattern` also matches (a superset): lookarounds
    dropped, group names and possessive markers removed, back-references widened, long repeats opened."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = _group_end(pattern, i)
        elif pattern.startswith("(?P<", i):
            out.append("(")
            i = pattern.index(">", i) + 1
        elif pattern.startswith("(?P=", i):
            out.append(r"[\s\S]*")
            i = pattern.index(")", i) + 1
        elif c == "+" and out and out[-1][-1] in "*+?}" and not out[-1].startswith("\\"):
            i += 1  # possessive: a greedy repeat matches everything the possessive one does
        else:
            out.append(c)
            i += 1
    return _REPEAT.sub(_open_repeat, "".join(out))


def _class_end(pattern: str, i: int) -> int:
    """The index just past the character class starting at pattern[i] == '['."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _group_end(pattern: str, i: int) -> int:
    """The index just past the group opening at pattern[i] == '('."""
    depth, j = 0, i
    while j < len(pattern):
        c = pattern[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _class_end(pattern, j)
            continue
        depth += (c == "(") - (c == ")")
        j += 1
        if depth == 0:
            return j
    return j


_REPEAT = re.compile(r"(?<!\\)\{(\d{1,6})(,(\d{0,6}))?\}")


def _open_repeat(m: re.Match[str]) -> str:
    low = int(m.group(1))
    if m.group(2) is None:
        return m.group(0) if low <= _OPEN_REPEAT else f"{{{_OPEN_REPEAT},}}"
    high = m.group(3)
    if high and int(high) <= _OPEN_REPEAT:
        return m.group(0)
    return f"{{{min(low, _OPEN_REPEAT)},}}"


Gate = tuple[bytes, bytes]
# The character class each mark of a shape (shapes.py) stands for: a gate as a Hyperscan expression.
_MARK_CLASSES: dict[bytes, dict[int, str]] = {
    NUMBERISH: {MARK[0]: r"[\d ().+-]"},
    DIGITS: {ord("0"): r"\d", ord("A"): "[A-Z]"},
    BASE64: {MARK[0]: "[A-Za-z0-9+/_-]"},
}
BLOB_RUN: Gate = (BASE64, MARK * 16)  # the shortest base64 run blobs.py decodes: no run, no blob
_NUMBER_CLASSES = {NUMBERISH: r"[\d ().+-]", NUMBERISH_SLASH: r"[\d ().+/-]"}


def gate_expression(gate: Gate) -> str | None:
    """The regex a gate's shape test stands for (`[\\d ().+-]{7}`), None if its table is unknown."""
    table, needle = gate
    number = _NUMBER_CLASSES.get(table)
    if number is not None and needle == MARK * len(needle) and len(needle) >= 3:
        # Number runs matter only to detectors of 8+ digits (phone, SSN, card): a run that starts and ends
        # with a digit. Spaces open partial matches all over prose; a leading digit keeps the scan cheap.
        return rf"\d{number}{{{len(needle) - 2},}}\d"
    classes = _MARK_CLASSES.get(gate[0])
    if classes is None or any(b not in classes for b in gate[1]):
        return None
    return "".join(classes[b] for b in gate[1])


@dataclass(frozen=True, slots=True)
class _Expr:
    text: str
    caseless: bool


def expressions(det: Detector) -> list[_Expr]:
    """What Hyperscan looks for on behalf of one detector: the literal prefixes of an anchored one; its
    loosened pattern where the pattern scans the text itself; for a vendor-context detector (a lower-cased pattern that starts with a vendor name) the
    names alone, since the gap and assignment after them cost seconds to compile; otherwise its prefilter
    literals, trigger or gate."""
    if det.anchors:  # the prefix alone: a class run after it turns a repeated prefix quadratic in Hyperscan
        if any(len(set(a)) == 1 for a in det.anchors):
            # A literal of one repeated character (`AAAA...`, Twitter's bearer tokens) is matched at every
            # character of a long run of it: a MiB of such runs costs the shared database 40 ms, where the
            # detector's own str.find costs a fraction of one on any text. Never pre-tested: always run.
            return []
        return [_Expr(re.escape(a), False) for a in det.anchors]
    if det.finder is None and not det.in_numbers:
        if names_only(det):
            if det.lead is not None:  # the name itself, not its first letters: `ld[_.-]`, not `ld` (`world`)
                return [_Expr(loosen(det.lead), True)]
            return [_Expr(re.escape(s), True) for s in det.starts]
        caseless = det.lower or bool(det.pattern.flags & re.IGNORECASE)
        return [_Expr(loosen(det.pattern.pattern), caseless)]
    if det.finder is not None and (det.keywords or det.ikeywords):
        return literals(det)  # its gate, if any, is tested apart (Prefilter.candidates): both must hold
    gate = gate_expression(det.gate) if det.gate is not None else None
    return [_Expr(gate, False)] if gate is not None else literals(det)


def names_only(det: Detector) -> bool:
    """Does Hyperscan look for the vendor names alone (see expressions)? Then the detector's keywords,
    which such a pattern also needs (`DD_API_KEY`: `dd` and `key`), are tested apart (registry)."""
    return not det.anchors and det.lower and bool(det.starts) and det.priority > _GENERIC


def literals(det: Detector) -> list[_Expr]:
    """A detector's prefilter keywords and trigger: the fallback for a pattern Hyperscan rejects."""
    out = [_Expr(re.escape(k), False) for k in det.keywords]
    out += [_Expr(re.escape(k), True) for k in det.ikeywords]
    if det.trigger is not None:
        out.append(_Expr(loosen(det.trigger.pattern), bool(det.trigger.flags & re.IGNORECASE)))
    return out


class Database:
    """One compiled database per set of detectors, for ASCII text; `hits` is safe to call from any thread."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        assert hyperscan is not None
        flags_base = (
            hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY | hyperscan.HS_FLAG_PREFILTER
        )
        gates = {d.gate for d in detectors if d.gate is not None} | {BLOB_RUN}
        # a gate's id follows the detectors'; one Hyperscan cannot express stays open
        self.gates = {n: g for n, g in enumerate(sorted(gates), len(detectors))}
        try:  # usually every pattern compiles: one compile
            self._db, self.always = _compile(detectors, self.gates, flags_base, check=False)
        except hyperscan.error:  # find the patterns Hyperscan rejects and use their literals instead
            self._db, self.always = _compile(detectors, self.gates, flags_base, check=True)
        self._local = threading.local()
        self._short: dict[bytes, frozenset[int]] = {}

    def hits(self, data: bytes) -> frozenset[int]:
        """Indexes of the detectors (and gates, see `gates`) whose condition holds somewhere in data."""
        got = self._short.get(data) if len(data) <= SHORT else None
        if got is None:
            found = set(self.always)
            self._db.scan(
                data, match_event_handler=_collect, context=found, scratch=_scratch(self._local, self._db)
            )
            got = frozenset(found)
            if len(data) <= SHORT:
                _remember(self._short, data, got)
        return got


# Texts up to this many bytes have their answers remembered (at most _SHORT_ENTRIES per database): a
# request path, a header or a model name recurs on every request, and a Hyperscan call costs microseconds
# whatever the length.
SHORT = 256
_SHORT_ENTRIES = 4096


def _remember(memo: dict[bytes, Any], data: bytes, answer: Any) -> None:
    if len(memo) >= _SHORT_ENTRIES:
        memo.clear()
    memo[data] = answer


def _scratch(local: threading.local, db: Any) -> Any:
    """This thread's scratch space for db (Hyperscan's scratch may not be shared between threads)."""
    scratch = getattr(local, "scratch", None)
    if scratch is None:
        scratch = local.scratch = hyperscan.Scratch(db)
    return scratch


class Triggers:
    """Named regexes (Hyperscan syntax) in one database: which of them occur in an ASCII text, in one pass."""

    def __init__(self, patterns: Sequence[tuple[str, str]]) -> None:
        assert hyperscan is not None
        self.names = tuple(name for name, _ in patterns)
        flags = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
        n = len(patterns)
        self._db = _cached_compile([p.encode() for _, p in patterns], list(range(n)), [flags] * n)
        self._local = threading.local()
        self._short: dict[bytes, frozenset[str]] = {}

    def found(self, data: bytes) -> frozenset[str]:
        got = self._short.get(data) if len(data) <= SHORT else None
        if got is None:
            hit: set[int] = set()
            self._db.scan(
                data, match_event_handler=_collect, context=hit, scratch=_scratch(self._local, self._db)
            )
            got = frozenset(self.names[i] for i in hit)
            if len(data) <= SHORT:
                _remember(self._short, data, got)
        return got


class Spans:
    """ASCII words, case ignored: every (start, end) where one occurs in a text (all matches, overlaps too)."""

    def __init__(self, words: Sequence[str]) -> None:
        assert hyperscan is not None
        flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SOM_LEFTMOST
        exprs = ["".join(c if c.isalnum() else f"\\x{ord(c):02x}" for c in w).encode() for w in words]
        n = len(exprs)
        self._db = _cached_compile(exprs, list(range(n)), [flags] * n)
        self._local = threading.local()

    def spans(self, data: bytes) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        self._db.scan(data, match_event_handler=_span, context=out, scratch=_scratch(self._local, self._db))
        return out


def _span(i: int, start: int, end: int, flags: int, out: list[tuple[int, int]]) -> None:
    out.append((start, end))


@cache
def _compiled_triggers(patterns: tuple[tuple[str, str], ...]) -> Triggers | None:
    assert hyperscan is not None
    try:
        return Triggers(patterns)
    except hyperscan.error:  # a pattern this Hyperscan rejects: the callers' own cheap tests run instead
        return None


def triggers(patterns: tuple[tuple[str, str], ...]) -> Triggers | None:
    """The database of these (name, pattern) pairs, compiled on first use and kept for the process; None
    if Hyperscan rejects one."""
    with _LOCK:
        return _compiled_triggers(patterns)


def spans(words: tuple[str, ...]) -> Spans | None:
    """The database of these ASCII words (see Spans); None if Hyperscan rejects one."""
    assert hyperscan is not None
    try:
        return Spans(words)
    except hyperscan.error:
        return None


def _compile(
    detectors: Sequence[Detector], gates: dict[int, Gate], flags_base: int, check: bool
) -> tuple[Any, frozenset[int]]:
    """The database, and the detectors and gates it cannot pre-test (always reported)."""
    assert hyperscan is not None
    exprs: list[bytes] = []
    ids: list[int] = []
    flags: list[int] = []
    always = set()
    for i, det in enumerate(detectors):
        usable = expressions(det)
        if not usable:
            always.add(i)
        elif check:
            usable = [e for e in usable if _compiles(e, flags_base)] or [
                e for e in literals(det) if _compiles(e, flags_base)
            ]
            if not usable:
                always.add(i)
        for e in usable:
            exprs.append(e.text.encode())
            ids.append(i)
            flags.append(flags_base | (hyperscan.HS_FLAG_CASELESS if e.caseless else 0))
    for i, gate in gates.items():
        expr = gate_expression(gate)
        if expr is None:
            always.add(i)
        else:
            exprs.append(expr.encode())
            ids.append(i)
            flags.append(flags_base)
    return _cached_compile(exprs, ids, flags), frozenset(always)


def _cached_compile(exprs: list[bytes], ids: list[int], flags: list[int]) -> Any:
    """Compile, or load what an earlier process compiled from the same expressions: hundreds of patterns
    take seconds to compile and milliseconds to load. The cache is an optimisation: any failure to read or
    write it just compiles."""
    assert hyperscan is not None
    key = hashlib.sha256(
        repr((getattr(hyperscan, "__version__", ""), exprs, ids, flags)).encode()
    ).hexdigest()[:32]
    path = cache_dir() / f"hs-{key}.db"
    try:
        return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
    except (OSError, hyperscan.error, TypeError, ValueError):
        pass
    db = hyperscan.Database()
    db.compile(expressions=exprs, ids=ids, elements=len(exprs), flags=flags)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(hyperscan.dumpb(db))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    except OSError:
        pass
    return db


def cache_dir() -> Path:
    """Where compiled databases are kept: $PALARYN_CACHE_DIR, else $XDG_CACHE_HOME/palaryn-proxy."""
    explicit = os.environ.get("PALARYN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "palaryn-proxy"


def _compiles(e: _Expr, flags: int) -> bool:
    """Hyperscan accepts the expression (checked alone, so one bad pattern cannot sink the database)."""
    assert hyperscan is not None
    try:
        db = hyperscan.Database()
        db.compile(expressions=[e.text.encode()], ids=[0], elements=1, flags=[flags])
    except hyperscan.error:
        return False
    return True


def _collect(i: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(i)


_LOCK = threading.Lock()


@cache
def _compiled(detectors: tuple[Detector, ...]) -> Database:
    return Database(detectors)


def database(detectors: Iterable[Detector]) -> Database:
    """The database of these detectors, compiled on first use and kept for the process."""
    key = tuple(detectors)
    with _LOCK:  # two threads asking at once compile once
        return _compiled(key)
