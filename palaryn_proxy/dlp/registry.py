"""Every detector, by type and group, and the prefilter that keeps clean text cheap (Hyperscan, or keywords)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import (
    hsprefilter,
    pii,
    pii_identity,
    secrets_cloud,
    secrets_generic,
    secrets_keys,
    secrets_llm,
    secrets_paired,
    secrets_saas,
    secrets_vcs,
    secrets_vendors,
)
from .detector import Detector, TextView

ALL_DETECTORS: tuple[Detector, ...] = (
    *secrets_cloud.DETECTORS,
    *secrets_vcs.DETECTORS,
    *secrets_saas.DETECTORS,
    *secrets_llm.DETECTORS,
    *secrets_vendors.DETECTORS,
    *secrets_paired.DETECTORS,
    *secrets_keys.DETECTORS,
    *secrets_generic.DETECTORS,
    *pii.DETECTORS,
    *pii_identity.DETECTORS,
)
GROUPS: dict[str, str] = {d.type: d.group for d in ALL_DETECTORS}
DEFAULT_OFF = frozenset({"ip_address"})  # opt-in: name it in dlp.actions


# Characters by how rare they are in prose, JSON and code (rarest last). A keyword is looked up through its
# rarest character; one made only of the common ones (`_COMMON`) is tested with `in` directly.
_COMMON = " etaoinsrhldcumfpgwybv.,k"
_RARITY = _COMMON + "\"_-:TSAIMCWBPHDRL/0123456789NEFGOUVYKJQXZ()x=jqz'+@~"


def _rarity(c: str) -> int:
    return _RARITY.find(c) if c in _RARITY else len(_RARITY)


class _Keywords:
    """Which of a set of keywords occur in a text, cheaper than one `in` test each (each scans the text).

    Keywords are grouped by their rarest character. A group is skipped when that character is absent (a
    memchr-fast `find`); otherwise one regex finds, from there, where a keyword of the group has it (its
    literal character makes the regex engine skip fast; lookarounds check the rest of each keyword).
    """

    def __init__(self, keywords: dict[str, list[int]]) -> None:
        plain: list[tuple[str, tuple[int, ...]]] = []
        groups: dict[str, list[tuple[str, int, tuple[int, ...]]]] = {}
        for kw, idxs in keywords.items():
            at = max(range(len(kw)), key=lambda i: _rarity(kw[i]))
            if kw[at] in _COMMON:
                plain.append((kw, tuple(idxs)))
            else:
                groups.setdefault(kw[at], []).append((kw, at, tuple(idxs)))
        self._plain = tuple(plain)
        self._groups = tuple((c, _group_re(c, entries), tuple(entries)) for c, entries in groups.items())

    def find(self, view: TextView, low: bool, hits: set[int]) -> None:
        """Add the detector indexes of the keywords that occur in the view's text (low: in its lower-cased
        copy) to hits."""
        text = view.low if low else view.text
        for kw, idxs in self._plain:
            if view.find(kw, low) != -1:
                hits.update(idxs)
        for c, group_re, entries in self._groups:
            pos = text.find(c)
            if pos == -1:
                continue
            m = group_re.search(text, pos)
            if m is None:
                continue
            p = m.start()  # one keyword at least is here; the others of the group may be elsewhere
            for kw, at, idxs in entries:
                if (p >= at and text.startswith(kw, p - at)) or kw in text:
                    hits.update(idxs)


def _group_re(c: str, entries: list[tuple[str, int, tuple[int, ...]]]) -> re.Pattern[str]:
    """`c` where one of the keywords has it: `c(?:(?<=before c)(?=after)|...)`."""
    alts = []
    for kw, at, _ in entries:
        before = f"(?<={re.escape(kw[: at + 1])})" if at else ""
        after = f"(?={re.escape(kw[at + 1 :])})" if at + 1 < len(kw) else ""
        alts.append(before + after)
    return re.compile(f"{re.escape(c)}(?:{'|'.join(alts)})")


class Prefilter:
    """Picks the detectors worth running on a text.

    With Hyperscan (hsprefilter), one scan of the text tests every detector's loosened pattern at once;
    a detector whose gate fails is out after that. Without it, or on text that is not valid UTF-8,
    case-sensitive keywords are looked for in the text, case-insensitive ones in its lower-cased copy (see
    _Keywords), and detectors without a literal (digit-shaped PII) by a shared cheap trigger search; a
    detector whose gate fails is out before that. Keyed detectors are chosen by the field name instead.
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        keywords: dict[tuple[bytes, bytes] | None, tuple[dict[str, list[int]], dict[str, list[int]]]] = {}
        gates: dict[tuple[bytes, bytes], list[int]] = {}
        triggers: dict[int, tuple[re.Pattern[str], list[int]]] = {}
        self._keyed: list[int] = []
        self._keyed_by_name: dict[str, tuple[Detector, ...]] = {}  # keyed(): names repeat (role, content)
        for i, d in enumerate(self.detectors):
            if d.key is not None:
                self._keyed.append(i)
                continue
            cs, ci = keywords.setdefault(d.gate, ({}, {}))
            for kw in d.keywords:
                cs.setdefault(kw, []).append(i)
            for kw in d.ikeywords:
                ci.setdefault(kw.lower(), []).append(i)
            if d.trigger is not None:
                triggers.setdefault(id(d.trigger), (d.trigger, []))[1].append(i)
            if d.gate is not None:
                gates.setdefault(d.gate, []).append(i)
            if not (d.keywords or d.ikeywords or d.trigger):
                raise ValueError(f"detector {d.type} has neither keywords nor a trigger")
        # keywords by the gate of their detectors: those of a closed gate are not looked for
        self._keywords = tuple(
            (gate, _Keywords(cs), _Keywords(ci) if ci else None) for gate, (cs, ci) in keywords.items()
        )
        self._gates = tuple((gate, frozenset(idxs)) for gate, idxs in gates.items())
        self._triggers = tuple((t, tuple(v)) for t, v in triggers.values())
        self._hs = _HsIndex(self.detectors, self._keyed) if hsprefilter.AVAILABLE else None

    def candidates(self, view: TextView) -> list[Detector]:
        """The detectors worth running on the view's text (keyed detectors excluded)."""
        if self._hs is not None:
            found = self._hs.hits(view)
            if found is not None:
                return [d for d in found if d.gate is None or view.has(*d.gate)]
        closed: set[int] = set()
        for needed, gated in self._gates:
            if not view.has(*needed):
                closed |= gated
        hits: set[int] = set()
        for gate, cs, ci in self._keywords:
            if gate is None or view.has(*gate):
                cs.find(view, False, hits)
                if ci is not None:
                    ci.find(view, True, hits)
        for trig, idxs in self._triggers:
            if not closed.issuperset(idxs) and trig.search(view.text):
                hits.update(idxs)
        return [self.detectors[i] for i in sorted(hits - closed)]

    def keyed(self, key: str) -> tuple[Detector, ...]:
        """The keyed detectors whose field-name test `key` passes."""
        if len(key) > 100:
            return ()
        got = self._keyed_by_name.get(key)
        if got is None:
            if len(self._keyed_by_name) >= 4096:
                self._keyed_by_name.clear()
            got = self._keyed_by_name[key] = tuple(
                self.detectors[i] for i in self._keyed if self.detectors[i].applies_to_key(key)
            )
        return got


class _HsIndex:
    """A prefilter's detectors in the process-wide Hyperscan databases of ALL_DETECTORS (compiled once,
    shared by every scanner), or in databases of their own when some are not built-in (tests)."""

    def __init__(self, detectors: Sequence[Detector], keyed: list[int]) -> None:
        skip = set(keyed)
        scanned = [d for i, d in enumerate(detectors) if i not in skip]
        position = {id(d): i for i, d in enumerate(ALL_DETECTORS)}
        if all(id(d) in position for d in scanned):
            self._universe = ALL_DETECTORS
            wanted = {position[id(d)] for d in scanned}
        else:
            self._universe = tuple(scanned)
            wanted = set(range(len(scanned)))
        # universe index -> detector, for the ones this prefilter runs; sorted = detector order
        self._pick = tuple(d if i in wanted else None for i, d in enumerate(self._universe))
        self._db = hsprefilter.database(self._universe)  # compiled once per process, not per request
        # Detectors the database reports always, or by their vendor names alone (hsprefilter.expressions):
        # their keywords, looked for here (`dd` in a MiB of `DDDD` opens no Datadog scan without `key`)
        always = self._db.always
        self._literal = {
            id(d): (d.keywords, d.ikeywords)
            for i, d in enumerate(self._pick)
            if d is not None and (i in always or hsprefilter.names_only(d)) and (d.keywords or d.ikeywords)
        }

    def hits(self, view: TextView) -> list[Detector] | None:
        """The detectors whose condition holds in the view's text, in order (the view learns which gates
        are open, so its `has` answers them for free); None: text that is not ASCII, which the keyword
        prefilter takes (a Unicode-aware database compiles too slowly to build per process)."""
        text = view.text
        if not text.isascii():
            return None
        db = self._db
        found = db.hits(text.encode("ascii"))
        view.known_gates({gate: i in found for i, gate in db.gates.items()})
        pick = self._pick
        out = [d for i in sorted(found) if i < len(pick) and (d := pick[i]) is not None]
        if self._literal:
            out = [d for d in out if self._has_keyword(view, d)]
        return out

    def _has_keyword(self, view: TextView, det: Detector) -> bool:
        words = self._literal.get(id(det))
        if words is None:
            return True
        keywords, ikeywords = words
        return any(view.find(k) != -1 for k in keywords) or any(view.find(k, True) != -1 for k in ikeywords)
