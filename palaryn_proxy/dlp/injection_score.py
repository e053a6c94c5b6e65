"""Scores one channel of text for prompt injection: concept hits, rules, damping, and a windowed combination.

A match's weight is damped when it sits inside a quotation, near text about prompt injection (articles,
training material), in code or chat-template documentation, or when the writer speaks of their own earlier
words ("my previous instructions"); it is raised in a hidden channel. Matches combine as 1 - prod(1 - w)
over the strongest match of each signal, but only among matches within WINDOW characters of one another:
weak signals scattered over a long page do not add up, several in one passage do.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from .injection_lexicon import Hits, Lexicon
from .injection_normalise import normalise, unleet
from .injection_rules import (
    ACCOUNT,
    CODE_CUES,
    COMBOS,
    IMAGE,
    LINK,
    NEW,
    PATTERNS,
    PLACEHOLDER,
    QUOTES,
    SECRETISH,
    URL,
    Combo,
)

WINDOW = 450  # matches this close combine
META_REACH = 500  # text about prompt injection within this distance damps a match
MAX_MATCHES = 300  # per channel; past this the channel's score is already decided
_ALNUM_SHAPE = bytes(
    ord("a") if 97 <= b <= 122 else ord("0") if 48 <= b <= 57 else ord(".") for b in range(256)
)
_MAX_TRIED = 200  # anchor hits tried per combination
_BREAK = re.compile(r"[.!?。！？؟।۔](?:\s|$)|\n\s{0,20}\n")
# a line that is a shell command or source code, not prose addressed to anyone
_CODE_LINE = re.compile(
    r"[ \t]{0,20}(?:[$>#][ \t]{1,5})?(?:curl|wget|http|git|npm|pip|docker|kubectl|sudo|rm|cat|echo|export|import|from|def|class"
    r"|const|let|var|function|select|insert|update|return|if|for|print|await)\b[^\n]{0,400}?(?:[=(){}\[\];|$]| -{1,2}[a-z])"
)
_COLON = re.compile(r"[^\n:：]{0,3}[:：]")
_IMPERATIVE = re.compile(r"(?:^|[\n.!?:>]|please|now)\s{0,20}$")
_DAN = re.compile(r"\bDAN\b")
_DAN_LOW = re.compile(r"\bdan\b")
_CLAUSE = re.compile(r"[.!?;:,。！？؟।۔،؛：，；\n]")
_ADDR_BEFORE = re.compile(
    r"(?:^|[\n.!?>:\]\-*#|(]|-->)\s{0,20}(?:(?:hey|hi|hello|dear|attention|psst|ok|okay|note to|to|for|all|any|the|p\.s\.)"
    r"[\s,]{1,5}){0,3}$"
)
_ADDR_AFTER = re.compile(r"^(?:[\w-]{1,30}\s{0,20}){0,3}[:,\uff1a\uff0c]")
# a speaker label ("agent:", "[10:04] bot:") at a line start is a transcript, not an address
_ROLE_LABEL = re.compile(
    r"(?:^|\n)[ \t]{0,20}(?:\[[^\]\n]{0,20}\][ \t]{0,20})?(?:assistant|model|bot|ai|agent|chatbot|gpt|llm)[ \t]{0,20}:"
)


@dataclass(frozen=True, slots=True)
class Match:
    signal: str
    weight: float
    start: int
    end: int
    combo: bool = False  # from a concept combination (its end is the last concept's start)


def _quoted(low: str, start: int) -> bool:
    """The match sits inside a quotation on its line: an odd number of quote marks before it (apostrophes
    inside words, as in "don't", are not quote marks)."""
    line_start = low.rfind("\n", max(0, start - 200), start) + 1
    before = low[max(line_start, start - 200) : start]
    marks = 0
    for i, c in enumerate(before):
        if c in QUOTES and not (
            c == "'" and 0 < i < len(before) - 1 and before[i - 1].isalnum() and before[i + 1].isalnum()
        ):
            marks += 1
    return marks % 2 == 1


def _pattern_hits(low: str) -> tuple[dict[str, list[tuple[int, int]]], list[Match], list[tuple[int, int]]]:
    """Concept hits and signal matches of the structural patterns; spans of code-damped matches."""
    extra: dict[str, list[tuple[int, int]]] = {}
    out: list[Match] = []
    code: list[tuple[int, int]] = []
    present: dict[str, bool] = {}
    for p in PATTERNS:
        if p.at or not any(present.setdefault(a, a in low) for a in p.anchors):
            continue
        for n, m in enumerate(p.pattern.finditer(low)):
            if p.concept:
                extra.setdefault(p.concept, []).append(m.span())
            if p.signal:
                out.append(Match(p.signal, p.weight, m.start(), m.end()))
                if p.code_damp:
                    code.append(m.span())
            if n >= 200:
                break
    out += _links(low)
    if b"aa00" in low.encode("utf-8", "surrogatepass").translate(_ALNUM_SHAPE):
        extra.setdefault("dest", []).extend(m.span() for m in ACCOUNT.finditer(low))
    return extra, out, code


def _at_hits(low: str, hits: Hits) -> list[Match]:
    """Patterns tried only where a concept has a hit ("call the send_email tool" at a verb of `invoke`)."""
    out: list[Match] = []
    for p in PATTERNS:
        starts = hits.starts.get(p.at or "")
        if not starts or not all(a in low for a in p.anchors):
            continue
        for s in starts[:_MAX_TRIED]:
            m = p.pattern.match(low, s)
            if m and p.signal:
                out.append(Match(p.signal, p.weight, m.start(), m.end()))
    return out


def _links(low: str) -> list[Match]:
    """Images and links whose query string holds a placeholder for data: `![](https://x/?q={chat})`."""
    out: list[Match] = []
    if "http" not in low:
        return out
    images = [m.span() for m in IMAGE.finditer(low)] if "![" in low else []
    image_starts = [s for s, _ in images]
    for n, m in enumerate(URL.finditer(low)):
        if n >= 2000 or len(out) >= 50:
            break
        url = m.group()
        q = max(url.find("?"), url.find("#"), url.find("="))
        ph = PLACEHOLDER.search(url, max(q, 8)) if q > 0 or "{" in url or "<" in url else None
        if ph is None:
            continue
        i = bisect_right(image_starts, m.start()) - 1
        in_image = i >= 0 and m.start() < images[i][1]
        secret = SECRETISH.search(ph.group()) is not None
        if in_image:
            out.append(Match(LINK, 0.62 if secret else 0.5, m.start(), m.end()))
        elif secret:
            out.append(Match(LINK, 0.42, m.start(), m.end()))
    return out


def _addressed(low: str, hits: Hits) -> list[tuple[int, int]]:
    """The model named at the start of a line or sentence and followed by ':' or ',' ("AI assistant:",
    "Hey Copilot,"), as extra "note" hits."""
    out = []
    starts, ends = hits.starts.get("ai", []), hits.ends.get("ai", [])
    for s, e in zip(starts[:300], ends[:300], strict=False):
        if _ADDR_BEFORE.search(low, max(0, s - 40), s) and _ADDR_AFTER.match(low[e : e + 40]):
            if not _ROLE_LABEL.search(low, max(0, s - 30), e + 2):
                out.append((s, e))
    return out


def _near(
    low: str, hits: Hits, concept: str, lo: int, hi: int, anchor: int, cross: bool, clause: bool = False
) -> int:
    """The start of a hit of `concept` in [lo, hi), in the sentence (or clause) of `anchor` unless `cross`;
    -1 if none."""
    starts = hits.starts.get(concept)
    if not starts:
        return -1
    i = bisect_left(starts, max(0, lo))
    while i < len(starts) and starts[i] < hi:
        if cross:
            return starts[i]
        a, b = (anchor, starts[i]) if anchor <= starts[i] else (starts[i], anchor)
        if (_CLAUSE if clause else _BREAK).search(low, a, b) is None:
            return starts[i]
        i += 1
    return -1


def _combo_matches(low: str, hits: Hits, combo: Combo) -> list[Match]:
    out: list[Match] = []
    anchor = combo.need[0]
    a_starts, a_ends = hits.starts.get(anchor, []), hits.ends.get(anchor, [])
    if not a_starts or any(c not in hits.starts for c in combo.need[1:]):
        return out
    for s, e in zip(a_starts[:_MAX_TRIED], a_ends[:_MAX_TRIED], strict=False):
        lo, hi = s, e
        for c in combo.need[1:]:
            at = _near(low, hits, c, s - combo.gap, e + combo.gap, s, combo.far, combo.clause)
            if at < 0:
                break
            lo, hi = min(lo, at), max(hi, at + 1)
        else:
            reach = combo.reach or combo.gap or 60
            boosts = [
                bw
                for c, bw in combo.boost
                if _near(low, hits, c, lo - reach, hi + reach, s, combo.cross) >= 0
            ]
            w = max([combo.weight, *boosts])
            if len(boosts) >= 2:  # several corroborating concepts: a little more than the strongest alone
                w = min(0.75, w + 0.08 * (len(boosts) - 1))
            if combo.signal == NEW and _COLON.match(low, hi, hi + 4):  # "new instructions:" introduces them
                w = max(w, 0.45)
            if combo.need[0] == "danger" and _IMPERATIVE.search(low, max(0, s - 12), s):
                w = max(w, 0.2) + 0.15  # the action is ordered, not described
            out.append(Match(combo.signal, w, lo, hi, True))
        if len(out) >= 20:
            break
    return out


def _damp(
    low: str, hits: Hits, matches: list[Match], code: list[tuple[int, int]], hidden: bool
) -> list[Match]:
    out = []
    self_damped = {c.signal for c in COMBOS if c.self_damp}
    meta = sorted(set(hits.starts.get("meta", [])))  # overlapping cues ("attack", "attacker") count once
    for m in matches:
        w = m.weight
        if _quoted(low, m.start) or (m.combo and _quoted(low, m.end - 1)):
            w *= 0.35
        if m.signal in self_damped and _near(low, hits, "self", m.start - 5, m.end + 8, m.start, True) >= 0:
            w *= 0.3
        if (m.start, m.end) in code and CODE_CUES.search(low, max(0, m.start - 300), m.end + 300):
            w *= 0.4
        elif _CODE_LINE.match(low, low.rfind("\n", 0, m.start) + 1):
            w *= 0.5
        if hidden:
            w = min(0.95, w * 1.3)
        else:
            n = bisect_right(meta, m.start + META_REACH) - bisect_left(meta, m.start - META_REACH)
            if n >= 4:
                w *= 0.3
            elif n >= 2:
                w *= 0.45
        out.append(Match(m.signal, w, m.start, m.end, m.combo))
    return out


def combine(weights: dict[str, float]) -> float:
    remaining = 1.0
    for w in weights.values():
        remaining *= 1.0 - w
    return 1.0 - remaining


def _windowed(matches: list[Match]) -> tuple[float, dict[str, float]]:
    """The best score of any passage: for each match, the noisy-OR of the strongest match per signal
    within WINDOW characters of it. Only a match that is the strongest of its signal so far in its window
    can raise the score, so each window is computed once per distinct (signal, weight) leader."""
    best_score, best_signals = 0.0, {}
    matches = sorted(matches, key=lambda m: m.start)[:MAX_MATCHES]
    lo = 0
    seen: set[tuple[int, int]] = set()
    for i, m in enumerate(matches):
        while matches[lo].start < m.start - WINDOW:
            lo += 1
        hi = i
        while hi + 1 < len(matches) and matches[hi + 1].start <= m.start + WINDOW:
            hi += 1
        if (lo, hi) in seen:
            continue
        seen.add((lo, hi))
        signals: dict[str, float] = {}
        for other in matches[lo : hi + 1]:
            if other.weight > signals.get(other.signal, 0.0):
                signals[other.signal] = other.weight
        score = combine(signals)
        if score > best_score:
            best_score, best_signals = score, signals
    return best_score, best_signals


def score_channel(lexicon: Lexicon, text: str, hidden: bool = False) -> tuple[float, dict[str, float]]:
    """Score one channel: (score in 0..1, strongest weight per signal of the best passage)."""
    low = normalise(text)
    plain = low
    low = unleet(low)
    extra, matches, code = _pattern_hits(plain)
    if _DAN.search(text):  # the persona "DAN" in capitals, whatever language surrounds it
        extra.setdefault("mode", []).extend(m.span() for m in _DAN_LOW.finditer(low))
    hits = lexicon.hits(low, extra)
    if hits.starts.get("ai"):
        hits.add("note", _addressed(low, hits))
    matches += _at_hits(low, hits)
    for combo in COMBOS:
        matches += _combo_matches(low, hits, combo)
    if not matches:
        return 0.0, {}
    if low is not plain:  # leetspeak spelled out: a match that needed it is obfuscated
        leet = [m for m in matches if m.weight >= 0.3 and low[m.start : m.end] != plain[m.start : m.end]]
        matches += [Match("obfuscation", 0.3, m.start, m.end) for m in leet[:1]]
    return _windowed(_damp(low, hits, matches, code, hidden))
