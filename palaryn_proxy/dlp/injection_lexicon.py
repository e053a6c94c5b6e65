"""Prompt-injection concepts in many languages: the lexicon files and one matcher for all of them.

Each `injection_lexicon_<lang>.yaml` maps a concept (a language-independent idea: "an override verb", "a word
for instructions", "a request to reveal"...) to the phrasings of that language. An entry is a lower-case stem
matched at the start of a word in alphabetic scripts (Latin, Greek, Cyrillic) and anywhere in scripts written
without spaces or with clitics (CJK, Arabic, Indic, Hangul); a trailing `$` asks for a whole word, and stems
shorter than five characters match whole words only. Entries and text go through the same `normalise`
(injection_normalise.py), so accents, full-width forms, look-alike letters and typographic quotes need no
spelling of their own. With Hyperscan, every entry of every language is found in one pass (two databases
built once per process); without it, trie-shaped regexes find the rarer ("anchor") concepts in one pass and
the common ("helper") ones near them.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .injection_normalise import normalise

try:  # the wheel bundles Intel's library; without it the trie regexes do the same work, more slowly
    import hyperscan

    HYPERSCAN = True
except ImportError:  # pragma: no cover - every supported platform has a wheel today
    HYPERSCAN = False

CONCEPTS: tuple[str, ...] = (
    "ignore", "instr", "prior", "priorobj", "weakprior", "new", "task", "ai", "roleplay", "unrestricted", "mode",
    "character", "leak", "prompt", "yourprompt", "yours", "user", "send", "sensitive", "destword", "tool", "invoke",
    "danger", "secrecy", "covert", "urgent", "authority", "permit", "emotion", "note", "steer", "decode", "follow",
    "meta", "self", "negate", "you", "oblige", "bypass", "safeguard", "trust", "human", "void",
)  # fmt: skip
LANGUAGES: tuple[str, ...] = (
    "en", "zh", "hi", "es", "fr", "ar", "bn", "pt", "ru", "ur", "id", "de", "ja", "ko", "tr", "it", "vi", "pl", "nl",
)  # fmt: skip
_DIR = Path(__file__).parent
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ---- the lexicon ----------------------------------------------------------------------------------------


def _word_start(entry: str) -> bool:
    """Entries of alphabetic scripts match at a word start; others (CJK, Arabic, Indic, Hangul, or mixing
    scripts, like "apiキー") anywhere."""
    return entry[0].isalnum() and all(
        c.isascii() or (c.isalpha() and ord(c) < 0x0590) or not c.isalnum() for c in entry
    )


# A word starts where the previous character is no letter or digit of an alphabetic script: "给ai助手" holds
# the word "ai" although Python's \b sees one long word.
_ALNUM = "a-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_IN_WORD = re.compile(f"[{_ALNUM}]")


_VERBS = frozenset({"send", "invoke", "leak", "ignore", "follow", "decode"})
_THINGS = frozenset({"sensitive", "destword", "tool", "instr", "prompt", "task", "ai"})


def _inherit(table: dict[str, set[str]], whole: frozenset[str]) -> None:
    """An entry also counts for the concepts of the entries inside it: "what is your" (a request to reveal)
    holds "your", "dear ai" (an address) holds "ai". The regex reports one, the longest, entry per place."""
    root: dict[str, dict] = {}
    for e in table:
        node = root
        for ch in e:
            node = node.setdefault(ch, {})
        node[""] = {"": e}
    own = {e: frozenset(cs) for e, cs in table.items()}
    for e, concepts in table.items():
        starts = [0] + [i for i in range(1, len(e)) if not _word_start(e) or not e[i - 1].isalnum()]
        for i in starts:
            node = root
            for j in range(i, len(e)):
                node = node.get(e[j], {})
                if not node:
                    break
                inner = node.get("", {}).get("")
                if (
                    inner is not None
                    and inner != e
                    and (inner not in whole or j + 1 == len(e) or not _IN_WORD.match(e, j + 1))
                ):
                    # a verb inside a name of a thing is no act: "email" in "email address", "call" in "api call"
                    verbs = _VERBS if own[e] <= _THINGS else frozenset()
                    concepts.update(table[inner] - verbs)


def _trie(entries: list[str]) -> str:
    """A regex for `entries` shaped as a trie: one branch per first character, longest entry first."""
    root: dict[str, dict] = {}
    for e in entries:
        node = root
        for ch in e:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return emit(root)


@dataclass(frozen=True, slots=True)
class Hits:
    """Concept hits of one text: for each concept, the sorted start offsets and the matching end offsets."""

    starts: dict[str, list[int]]
    ends: dict[str, list[int]]

    def add(self, concept: str, spans: list[tuple[int, int]]) -> None:
        """Merge more hits of `concept`, kept sorted by start."""
        if not spans:
            return
        pairs = sorted([*zip(self.starts.get(concept, []), self.ends.get(concept, []), strict=True), *spans])
        self.starts[concept] = [s for s, _ in pairs]
        self.ends[concept] = [e for _, e in pairs]


# Concepts made of common words ("your", "send", "all", "new"...): looked for only near a hit of another
# concept, so a long clean text costs one scan for the rarer words and a few windows.
HELPERS = frozenset({
    "yours", "user", "send", "invoke", "leak", "prior", "weakprior", "new", "urgent", "steer", "self", "follow",
    "destword", "meta", "permit", "negate", "you", "oblige", "bypass", "human",
})  # fmt: skip
WINDOW = 260  # characters either side of an anchor hit searched for helper concepts
MAX_ANCHORS = 3000  # anchor hits that open windows: the first and the last half of them
CHUNK = 32 * 1024
MAX_PER_CHUNK = 300


class _Tries:
    """One set of entries as regexes: word-start entries (normalise sets Latin words in CJK text apart, so
    \\b finds them), and entries matched anywhere (all of them, or the ASCII ones for ASCII text)."""

    def __init__(self, entries: list[str]) -> None:
        bounded = re.compile(r"\b" + _trie(sorted(e for e in entries if _word_start(e))))
        free = sorted(e for e in entries if not _word_start(e))
        self.ascii = (bounded, re.compile(_trie([e for e in free if e.isascii()])))
        self.unicode = (bounded, re.compile(_trie(free)))


class _Hyperscan:
    """All entries in two Hyperscan databases: short ones as word-bounded expressions (they occur inside
    many words), the others as literals checked for a word start here. One database per process; a
    scratch space per thread."""

    MAX_CALLS = 40_000  # a flood of entries stops the scan; its score is decided long before

    def __init__(self, entries: list[str], whole: frozenset[str]) -> None:
        self.short = [e for e in entries if len(e.encode("utf-8")) < 5]
        self.long = [e for e in entries if len(e.encode("utf-8")) >= 5]
        self.short_len = [len(e.encode("utf-8")) for e in self.short]
        self.long_len = [len(e.encode("utf-8")) for e in self.long]
        self.whole = whole
        self.bounded = frozenset(e for e in self.long if _word_start(e))
        exprs = []
        for e in self.short:
            escaped = "".join(f"\\x{b:02x}" for b in e.encode("utf-8"))
            exprs.append(((r"\b" + escaped + r"\b") if _word_start(e) else escaped).encode())
        self._short_db = _compile(exprs, literal=False)
        self._long_db = _compile([e.encode("utf-8") for e in self.long], literal=True)
        self._local = threading.local()

    def scan(self, low: str) -> list[tuple[int, int, str]]:
        """(start, end, entry) of every entry occurrence in `low`, as character offsets."""
        raw = low.encode("utf-8", "surrogatepass")
        found: list[tuple[int, int, int]] = []  # byte end, byte start, entry index (short: negative)

        per_bucket: dict[int, int] = {}  # hits per 32 KiB: a flood in one place leaves the rest searched
        calls = [0]

        def short(i: int, frm: int, to: int, flags: int, ctx: Any) -> bool:
            n = per_bucket[to >> 15] = per_bucket.get(to >> 15, 0) + 1
            if n <= MAX_PER_CHUNK:
                found.append((to - self.short_len[i], to, -1 - i))
            calls[0] += 1
            return calls[0] >= self.MAX_CALLS

        def long(i: int, frm: int, to: int, flags: int, ctx: Any) -> bool:
            n = per_bucket[to >> 15] = per_bucket.get(to >> 15, 0) + 1
            if n <= MAX_PER_CHUNK:
                found.append((to - self.long_len[i], to, i))
            calls[0] += 1
            return calls[0] >= self.MAX_CALLS

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = (
                hyperscan.Scratch(self._short_db),
                hyperscan.Scratch(self._long_db),
            )
        for db, handler, space in ((self._short_db, short, scratch[0]), (self._long_db, long, scratch[1])):
            try:
                db.scan(raw, match_event_handler=handler, scratch=space)
            except hyperscan.ScanTerminated:  # MAX_HITS reached
                break
        found.sort()
        out: list[tuple[int, int, str]] = []
        to_char = _char_offsets(raw, low, found)
        for s, e, i in found:
            entry = self.short[-1 - i] if i < 0 else self.long[i]
            cs, ce = to_char(s), to_char(e)
            if i >= 0 and entry in self.bounded:
                if cs > 0 and _IN_WORD.match(low, cs - 1):
                    continue
                if entry in self.whole and ce < len(low) and _IN_WORD.match(low, ce):
                    continue
            out.append((cs, ce, entry))
        return out


def _compile(patterns: list[bytes], literal: bool) -> Any:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns),
               flags=[0] * len(patterns), literal=literal)  # fmt: skip
    return db


_LEAD = re.compile(rb"[\xc0-\xff]")


def _char_offsets(raw: bytes, low: str, found: list[tuple[int, int, int]]) -> Any:
    """Byte offset -> character offset: the byte offset less the continuation bytes before it, found by
    bisecting the multi-byte characters' lead bytes (or, for text mostly outside ASCII, by decoding
    incrementally along the sorted hits)."""
    extra = len(raw) - len(low)
    if extra == 0:
        return lambda off: off
    if extra < 60_000:
        leads: list[int] = []
        cum: list[int] = []
        total = 0
        for m in _LEAD.finditer(raw):
            b = raw[m.start()]
            total += 1 if b < 0xE0 else 2 if b < 0xF0 else 3
            leads.append(m.start())
            cum.append(total)
        return lambda off: off - (cum[i - 1] if (i := bisect_left(leads, off)) else 0)
    state = [0, 0]  # byte position, character position

    def convert(off: int) -> int:
        b, c = state
        if off >= b:
            c += len(raw[b:off].decode("utf-8", "surrogatepass"))
            state[0], state[1] = off, c
            return c
        return c - len(raw[off:b].decode("utf-8", "surrogatepass"))

    return convert


class Lexicon:
    """Every language's entries, compiled once into trie regexes and an entry -> concepts table."""

    def __init__(self, by_language: dict[str, dict[str, list[str]]], accelerate: bool = True) -> None:
        table: dict[str, set[str]] = {}
        whole: set[str] = set()
        for concepts in by_language.values():
            for concept, entries in concepts.items():
                for raw in entries:
                    entry = normalise(raw[:-1] if raw.endswith("$") else raw)
                    if not entry:
                        continue
                    if raw.endswith("$") or (_word_start(entry) and len(entry) < 5 and entry[-1].isalnum()):
                        whole.add(entry)  # short stems of one language are common words of another
                    table.setdefault(entry, set()).add(concept)
        self.whole = frozenset(whole)
        _inherit(table, self.whole)
        self.table = {e: tuple(sorted(cs)) for e, cs in table.items()}
        anchors = [e for e, cs in self.table.items() if not HELPERS.issuperset(cs)]
        self._anchors = _Tries(anchors)
        self._helpers = _Tries([e for e, cs in self.table.items() if HELPERS.issuperset(cs)])
        self._hs = _Hyperscan(list(self.table), self.whole) if HYPERSCAN and accelerate else None

    def _scan(
        self, regex: re.Pattern[str], low: str, lo: int, hi: int, found: list[tuple[int, int, str]]
    ) -> None:
        """Hits of `regex` in low[lo:hi], at most MAX_PER_CHUNK per CHUNK characters (a flood of one word
        costs no more than a chunk's worth of hits, and a later chunk is still searched)."""
        for start in range(lo, hi, CHUNK):
            self._scan_chunk(regex, low, start, min(hi, start + CHUNK), found)

    def _scan_chunk(
        self, regex: re.Pattern[str], low: str, lo: int, hi: int, found: list[tuple[int, int, str]]
    ) -> None:
        cap = len(found) + MAX_PER_CHUNK
        for m in regex.finditer(low, lo, hi):
            if len(found) >= cap:
                break
            s, e = m.span()
            if s == e:
                continue
            self._record(low, s, e, found)
            if (
                " " in m.group()
            ):  # an entry starting inside this one and ending past it: "forget everything above"
                at = low.find(" ", s, e)
                while at != -1:
                    inner = regex.match(low, at + 1, hi)
                    if inner and inner.end() > e:
                        self._record(low, at + 1, inner.end(), found)
                    at = low.find(" ", at + 1, e)

    def _record(self, low: str, s: int, e: int, found: list[tuple[int, int, str]]) -> None:
        entry = low[s:e]
        if entry in self.whole and e < len(low) and _IN_WORD.match(low, e):
            return
        for concept in self.table.get(entry, ()):
            found.append((s, e, concept))

    def hits(self, low: str, extra: dict[str, list[tuple[int, int]]] | None = None) -> Hits:
        """Concept hits in `low` (normalised text); `extra` adds hits found by other means (URLs as "dest"...).
        With Hyperscan every entry is found in one pass; without it, anchor concepts are searched everywhere
        and helper concepts within WINDOW characters of an anchor hit."""
        found: list[tuple[int, int, str]] = []
        if self._hs is not None:
            for s, e, entry in self._hs.scan(low):
                found += [(s, e, c) for c in self.table[entry]]
        else:
            self._regex_hits(low, found, extra)
        for concept, spans in (extra or {}).items():
            found += [(s, e, concept) for s, e in spans]
        found.sort()
        starts: dict[str, list[int]] = {}
        ends: dict[str, list[int]] = {}
        for s, e, c in found:
            starts.setdefault(c, []).append(s)
            ends.setdefault(c, []).append(e)
        return Hits(starts, ends)

    def _regex_hits(
        self, low: str, found: list[tuple[int, int, str]], extra: dict[str, list[tuple[int, int]]] | None
    ) -> None:
        n = len(low)
        plain = low.isascii()
        anchors, helpers = (
            (self._anchors.ascii, self._helpers.ascii)
            if plain
            else (self._anchors.unicode, self._helpers.unicode)
        )
        for regex in anchors:
            self._scan(regex, low, 0, n, found)
        spots = sorted({s for s, _, _ in found} | {s for spans in (extra or {}).values() for s, _ in spans})
        if len(spots) > MAX_ANCHORS:
            spots = spots[: MAX_ANCHORS // 2] + spots[-MAX_ANCHORS // 2 :]
        windows: list[tuple[int, int]] = []
        for s in spots:
            lo, hi = max(0, s - WINDOW), min(n, s + WINDOW)
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], hi)
            else:
                windows.append((lo, hi))
        for lo, hi in windows:
            lo = low.rfind(" ", max(0, lo - 40), lo) + 1 or lo  # start on a word
            for regex in helpers:
                self._scan(regex, low, lo, hi, found)


def _load(path: Path) -> dict[str, list[str]]:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    if not isinstance(raw, dict):
        raise ValueError(f"{path.name}: expected a mapping of concept -> list of phrasings")
    out: dict[str, list[str]] = {}
    for key, value in raw.items():
        if key == "language":
            continue
        if key not in CONCEPTS:
            raise ValueError(f"{path.name}: unknown concept {key!r} (known: {', '.join(CONCEPTS)})")
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f"{path.name}: `{key}` must be a list of non-empty strings")
        out[key] = value
    return out


def load_lexicon(languages: tuple[str, ...] = LANGUAGES, accelerate: bool = True) -> Lexicon:
    """The lexicon of the given languages, from the YAML files beside this module; `accelerate=False` uses
    the trie regexes even where Hyperscan is installed."""
    return Lexicon({lang: _load(_DIR / f"injection_lexicon_{lang}.yaml") for lang in languages}, accelerate)
