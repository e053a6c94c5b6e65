"""Where a prompt-injection match sits, and how much that weakens it: inside a quotation, a question that does
not address the model, a description of what a model did, a negated act, code, or text about prompt
injection (articles, training material); or where the writer speaks of their own earlier words ("my previous
instructions"). A match in a hidden channel is strengthened instead.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from .injection_lexicon import Hits
from .injection_rules import CODE_CUES, COMBOS, QUOTES

META_REACH = 500  # text about prompt injection within this distance damps a match
_BREAK = re.compile(r"[.!?。！？؟।۔](?:\s|$)|\n\s{0,20}\n")
_CLAUSE = re.compile(r"[.!?;:,。！？؟।۔،؛：，；\n]")
_SENT_ENDS = ".!?。！？؟।۔\n"
_SENT_END = re.compile(r"[.!?。！？؟।۔](?=\s|$|[^\w.])|\n")
_CLAUSE_ENDS = _SENT_ENDS + ";:,،؛：，；"
_FIELD_SEP = ",;\t"
_FENCE = re.compile(r"```[^\n]{0,40}\n[\s\S]{0,20000}?(?:```|$)")
# a line that is a shell command or source code, not prose addressed to anyone
_CODE_LINE = re.compile(
    r"[ \t]{0,20}(?:[$>#][ \t]{1,5})?(?:curl|wget|http|git|npm|pip|docker|kubectl|sudo|rm|cat|echo|export|import|from|def|class"
    r"|const|let|var|function|select|insert|update|delete|drop|alter|create|truncate|return|if|for|print|await)\b[^\n]{0,400}?(?:[=(){}\[\];|$]| -{1,2}[a-z])"
    r"|[ \t]{0,20}[a-z_][\w.]{0,40}[ \t]{0,3}(?:=|:=|\+=)[ \t]{0,3}[\w.]{1,60}\("  # x = make(...)
)
# an order reported, not given: "a student asked it to ignore previous instructions"
_REPORTED = re.compile(
    r"\b(?:asked|told|instructed|prompted|tricked|convinced|persuaded|got|made|forced|asks|tells|instructs|tricks)"
    r"\s{1,3}(?:it|him|her|them|staff|employees|users|people|customers|victims|the\s{1,3}(?:model|bot|ai|assistant"
    r"|chatbot|llm|agent|staff|employees|users|victim)s?)\s{1,3}(?:to|into)\s"
)
# eight words in a row: a sentence, not code ("for this repository, act as ...; respond as ...")
_PROSE = re.compile(r"[^\n]{0,400}?(?:[a-z]{1,20}[,;]? ){8}")
_PROSE_LINE = 500
# signals damped where the model is the subject of a described act, or where the act is negated
_SUBJECT_DAMPED = frozenset({"instruction_override", "prompt_leak", "role_hijack", "safeguard_bypass"})
_NEGATION_DAMPED = frozenset(
    {"exfiltration", "dangerous_action", "tool_hijack", "secret_request", "covert_action", "safeguard_bypass"}
)
_YOU = ("you", "yours", "yourprompt")  # a question put to the model
# "the assistant must ignore...": an order in the third person, not a description
_ORDERED = ("you", "oblige")
_PLAY_REACH = 200
_ASKED = frozenset({"prompt_leak", "secret_request"})  # extraction is asked as a question


@dataclass(frozen=True, slots=True)
class Match:
    signal: str
    weight: float
    start: int
    end: int
    combo: bool = False  # from a concept combination (its end is the last concept's start)


def _letter(c: str) -> bool:
    """A letter or digit of an alphabetic script (Latin, Greek, Cyrillic)."""
    return c.isalnum() and ord(c) < 0x0590


def _quoted(low: str, start: int) -> bool:
    """The match sits inside a quotation on its line: an odd number of quote marks before it (apostrophes
    inside words, as in "don't", are not quote marks)."""
    line_start = low.rfind("\n", max(0, start - 200), start) + 1
    before = low[max(line_start, start - 200) : start]
    marks = 0
    for i, c in enumerate(before):
        if c not in QUOTES:
            continue
        if c == "'" and 0 < i < len(before) - 1 and _letter(before[i - 1]) and _letter(before[i + 1]):
            continue  # an apostrophe inside a word of an alphabetic script ("don't"); in CJK it is a quote
        if (
            c == "'"
            and marks % 2 == 0
            and 0 < i < len(before) - 1
            and before[i - 1] == "s"
            and before[i + 1] == " "
        ):
            continue  # a plural possessive ("contributors' notes") where no quotation is open
        if c == '"' and i > 0 and before[i - 1] in _FIELD_SEP and marks % 2 == 0:
            continue  # a CSV field opened by a delimiter encloses the whole cell, not a quotation in it
        marks += 1
    return marks % 2 == 1


def near(
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


def sentence(low: str, start: int, end: int) -> tuple[int, int, bool]:
    """The bounds of the sentence around [start, end) (within 300 characters) and whether it is a question."""
    lo = max(low.rfind(c, max(0, start - 300), start) for c in _SENT_ENDS) + 1
    m = _SENT_END.search(low, end, end + 300)
    hi = m.start() if m else min(len(low), end + 300)
    return lo, hi, m is not None and m.group() in "?？؟"


def in_span(spans: list[tuple[int, int]], pos: int) -> bool:
    i = bisect_right(spans, (pos, 1 << 62)) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


def _grammar(low: str, hits: Hits, m: Match) -> float:
    """Damping from the sentence the match sits in: a question that does not address the model ("why does
    the model ignore the system prompt?"), the model as the subject of a described act ("the model ignores
    the instructions"), the reader's own data to send ("send your session id to support@..."), and a negated
    act ("never share your password")."""
    w = 1.0
    lo, hi, question = sentence(low, m.start, m.end)
    if (
        question
        and m.combo  # a phrasing asked, not a structure (a role marker, a link) that happens to precede a '?'
        and m.signal not in _ASKED
        and not any(near(low, hits, c, lo, hi, lo, True) >= 0 for c in _YOU)
    ):
        w *= 0.5
    if m.signal in _SUBJECT_DAMPED:
        ai = near(low, hits, "ai", m.start - 40, m.start, m.start, False, True)
        if (
            ai >= 0
            and near(low, hits, "note", ai, ai + 1, ai, True) < 0
            and not any(near(low, hits, c, ai, max(m.end, m.start + 1), ai, True) >= 0 for c in _ORDERED)
        ):
            w *= 0.4
    r = _REPORTED.search(low, max(0, m.start - 60), m.start + 1)
    if r is not None and r.end() >= m.start - 25:
        w *= 0.4
    if m.signal == "role_hijack" and _people_play(low, hits, m):
        w *= 0.5
    if m.signal == "exfiltration" and _yours_to_send(low, hits, m):
        w *= 0.6
    if m.signal in _NEGATION_DAMPED:
        clause = max(low.rfind(c, max(0, m.start - 120), m.start) for c in _CLAUSE_ENDS) + 1
        if near(low, hits, "negate", clause, max(m.end, m.start + 1), m.start, True) >= 0:
            w *= 0.3
    return w


def _people_play(low: str, hits: Hits, m: Match) -> bool:
    """A role played by people (players, actors, a standardised patient, a class), with no model and no
    lifted limits in sight: a game or an exercise, not a persona forced on the model."""
    lo, hi = m.start - _PLAY_REACH, m.end + _PLAY_REACH
    return near(low, hits, "human", lo, hi, m.start, True) >= 0 and not any(
        near(low, hits, c, lo, hi, m.start, True) >= 0 for c in ("ai", "mode")
    )


def _yours_to_send(low: str, hits: Hits, m: Match) -> bool:
    """The data to send is the reader's own ("send your session id to support@..."): instructions for a
    person; the model is asked for the user's data or the conversation."""
    ys, ye = hits.starts.get("yours", []), hits.ends.get("yours", [])
    if not ys or near(low, hits, "user", m.start, m.end + 1, m.start, True) >= 0:
        return False
    sens = hits.starts.get("sensitive", [])
    data = sens[bisect_left(sens, m.start) : bisect_right(sens, m.end)]
    for s in data:
        j = bisect_left(ys, s - 12)
        if not any(s - 2 <= ye[k] <= s for k in range(j, min(len(ys), j + 4)) if ys[k] < s):
            return False  # some of the data is not "yours": the conversation, the user's, an id_rsa
    return bool(data)


def _covered(hits: Hits, s: int, e: int) -> bool:
    """A longer hit of another concept holds [s, e): "security" in "security code" or "the it security team"."""
    for concept, starts in hits.starts.items():
        if concept == "meta":
            continue
        ends = hits.ends[concept]
        i = bisect_right(starts, s)
        for j in range(i - 1, max(-1, i - 4), -1):
            if ends[j] >= e and ends[j] - starts[j] > e - s:
                return True
    return False


def _meta_cues(low: str, hits: Hits, matches: list[Match]) -> list[tuple[int, str]]:
    """Cues of text about prompt injection within META_REACH of a match, (start, word) sorted by start;
    overlapping cues ("attack", "attacker") count once, a word counts once however often it is repeated
    (see _damp), and a cue that is part of a phrase of another concept is not one."""
    at = sorted(m.start for m in matches)
    out: dict[int, str] = {}
    for s, e in zip(hits.starts.get("meta", []), hits.ends.get("meta", []), strict=True):
        i = bisect_left(at, s - META_REACH)
        if s in out or i == len(at) or at[i] > s + META_REACH or _covered(hits, s, e):
            continue
        out[s] = low[s:e]
    return sorted(out.items())


def damp(
    low: str, hits: Hits, matches: list[Match], code: list[tuple[int, int]], hidden: bool
) -> list[Match]:
    """The matches with their weights damped (or, in a hidden channel, raised) by their context."""
    out = []
    self_damped = {c.signal for c in COMBOS if c.self_damp}
    meta = _meta_cues(low, hits, matches)
    meta_at = [s for s, _ in meta]
    fences = [m.span() for m in _FENCE.finditer(low)] if "```" in low else []
    for m in matches:
        w = m.weight * _grammar(low, hits, m)
        if _quoted(low, m.start) or (m.combo and _quoted(low, m.end - 1)):
            w *= 0.35
        if m.signal in self_damped and near(low, hits, "self", m.start - 5, m.end + 8, m.start, True) >= 0:
            w *= 0.3
        if (m.start, m.end) in code and CODE_CUES.search(low, max(0, m.start - 300), m.end + 300):
            w *= 0.4
        else:  # a line of code, and a fenced code block, are each a sign of documentation
            line = low.rfind("\n", 0, m.start) + 1
            if _CODE_LINE.match(low, line) and not _PROSE.match(low, line, line + _PROSE_LINE):
                w *= 0.5
            if in_span(fences, m.start):
                w *= 0.5
        if hidden:
            w = min(0.95, w * 1.3)
        else:
            lo, hi = bisect_left(meta_at, m.start - META_REACH), bisect_right(meta_at, m.start + META_REACH)
            n = len({cue for _, cue in meta[lo:hi]})
            if n >= 4:
                w *= 0.3
            elif n >= 2:
                w *= 0.45
        out.append(Match(m.signal, w, m.start, m.end, m.combo))
    return out
