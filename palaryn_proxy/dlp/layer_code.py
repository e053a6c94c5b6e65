"""Secrets cut up in code and layout read whole: string concatenation, line continuations, fixed-width
wrapping, spaced-out characters (`g h p _`, one per line) and NUL-interleaved text (UTF-16 read as UTF-8)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from operator import itemgetter

from .layer_text import Probe, Rewrite, from_runs, split_rewrite, table

_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALNUM = _LETTERS + b"0123456789"

# -- joins: `"abc" + "def"`, `("abc"\n "def")`, `'abc' . 'def'`, `abc\<newline>def`, wrapped lines ----------

_OP = r"(?:\+|\.\.?|\|\||&|~)"
# A closing quote, an operator or none (implicit concatenation), an optional line break, an opening quote
# (with a string prefix: f"", b"", r""), then a token character (the one before is checked in Python).
_JOINT = re.compile(
    rf"[\"'`][ \t]{{0,16}}(?:{_OP}[ \t]{{0,16}})?(?:\\?\r?\n[ \t]{{0,64}}(?:{_OP}[ \t]{{0,16}})?)?"
    r"[bfruBFRU]{0,2}[\"'`](?=[\w+/=.~:@-])"
)
_BEFORE = re.compile(r"[\w+/=.~:@-]")
# In the shape a quote is `q`, a space, line break, `|`, `&` or backslash `w`, `+ . ~` (operators and token
# characters both) `o`, a string prefix letter `p`, another token character `t`. A joint candidate: a `q`,
# at most 128 of `w`/`o`/`p`, a `q`, then a token character. Led by a literal: the regex engine skips to
# quotes at memchr speed, and a quote that opens or closes prose fails at once.
JOINT_SHAPE = table(
    (b"\"'`", b"q"),
    (b" \t\r\n|&\\", b"w"),
    (b"+.~", b"o"),
    (b"bfruBFRU", b"p"),
    (b"ACDEGHIJKLMNOPQSTVWXYZacdeghijklmnopqstvwxyz0123456789_/=:@-", b"t"),
)
_JOINT_CANDIDATE = re.compile(rb"q[wop]{0,128}q[top]")
_CONTINUATION = re.compile(r"\\\r?\n[ \t]{0,64}")
_T = r"[A-Za-z0-9+/=_.~-]"
# A block of lines from a token run ending a line (16+ characters): whole lines of token characters (an
# indentation allowed), then the token run starting the last line.
_WRAP = re.compile(rf"{_T}{{16,}}+(?:\r?\n[ \t]{{0,32}}{_T}{{8,}}+){{0,4096}}\r?\n[ \t]{{0,32}}{_T}++")
# A last line that is a word of prose (`Thanks.`, `Cheers`) ends a sentence, not a wrapped token: joining it
# would stretch a URL at the end of the line above over it.
_PROSE_WORD = re.compile(r"(?:[A-Z][a-z]{1,30}[.!?]?|[a-z]{2,30}[.!?])$")
_LINE_BREAK = re.compile(r"\r?\n[ \t]{0,32}")
_LINE_END = re.compile(r"[ \t\r\"'`,;)\]}>]*+(?:\n|$)")
WRAP_SHAPE = table((_ALNUM + b"+/=_.~-", b"x"), (b"\r\n", b"n"))  # CR LF reads `nn`
_WRAP_NEEDLE = b"x" * 16 + b"n"
_WRAP_START = re.compile(rf"(?<!{_T}){_T}{{16}}")


def _wrapped_lines(text: str, m: re.Match[str]) -> list[tuple[int, int]]:
    """The tokens cut at a fixed width in a block, as (first, last) line indexes: lines as long as each
    other (the first counted from its line start), at least 16 characters, then a last line no longer,
    whose token ends the line. One pass over the lines: a block is looked at once."""
    lines = m.group().replace("\r\n", "\n").split("\n")
    lens = [len(line) for line in lines]
    lens[0] += m.start() - (text.rfind("\n", 0, m.start()) + 1)
    n = len(lines)
    out = []
    i = 0
    while i < n - 1:
        j = i + 1
        while j < n - 1 and lens[j] == lens[i]:
            j += 1
        ends = j < n - 1 or _LINE_END.match(text, m.end()) is not None
        if lens[i] >= 16 and lens[j] <= lens[i] and ends and not _PROSE_WORD.match(lines[j].strip()):
            out.append((i, j))
            i = j + 1
        else:
            i = j
    return out


def _wrap_blocks(p: Probe, max_runs: int) -> Iterator[re.Match[str]]:
    """Blocks of lines starting at a token run of 16+ characters that ends a line, in order, each found
    once: the search for the next resumes after the block (str.find on the shape: memchr speed)."""
    text = p.text
    if not text.isascii():  # shape offsets are not character positions
        for start in islice((m.start() for m in _WRAP_START.finditer(text)), max_runs):
            if (m := _WRAP.match(text, start)) is not None:
                yield m
        return
    shape = p.shape(WRAP_SHAPE)
    q = shape.find(_WRAP_NEEDLE)
    for _ in range(max_runs):
        if q == -1:
            return
        lo = max(0, q - 4096)
        start = max(shape.rfind(b".", lo, q), shape.rfind(b"n", lo, q)) + 1
        m = _WRAP.match(text, start if start or not lo else lo)
        if m is not None:
            yield m
        q = shape.find(_WRAP_NEEDLE, max(m.end() if m is not None else 0, q + 17))


def _wrap_runs(p: Probe, max_runs: int) -> list[tuple[int, int, str, int]]:
    if "\n" not in p.text or _WRAP_NEEDLE not in p.shape(WRAP_SHAPE):
        return []
    text = p.text
    found: list[tuple[int, int, str, int]] = []
    for m in _wrap_blocks(p, max_runs):
        blocks = _wrapped_lines(text, m)
        if blocks:
            breaks = [b.span() for b in _LINE_BREAK.finditer(text, m.start(), m.end())]
            found += ((s, e, "", 1) for i, j in blocks for s, e in breaks[i:j])
            if len(found) >= max_runs:
                break
    return found


def _joint_runs(p: Probe, max_runs: int) -> list[tuple[int, int, str, int]]:
    text = p.text
    candidates = _JOINT_CANDIDATE.finditer(p.shape(JOINT_SHAPE))
    if not text.isascii():
        matches = _JOINT.finditer(text) if next(candidates, None) is not None else iter(())
    else:
        matches = (m for c in candidates if (m := _JOINT.match(text, c.start())) is not None)
    found: list[tuple[int, int, str, int]] = []
    for m in islice(matches, 4 * max_runs):
        if m.start() and _BEFORE.match(text, m.start() - 1):
            found.append((m.start(), m.end(), "", 1))
            if len(found) >= max_runs:
                break
    return found


def has_joins(p: Probe) -> bool:
    """A necessary condition for joins: two quotes with only joint characters between them, a backslash
    before a line break, or a line ending in a token run of 16+ characters."""
    text = p.text
    if ('"' in text or "'" in text or "`" in text) and _JOINT_CANDIDATE.search(p.shape(JOINT_SHAPE)):
        return True
    if "\\\n" in text or "\\\r\n" in text:
        return True
    return "\n" in text and _WRAP_NEEDLE in p.shape(WRAP_SHAPE)


def joins(p: Probe, max_runs: int) -> Rewrite | None:
    """The text with the joints between the parts of a cut-up token removed; a finding across a joint
    spans it in the source (redaction replaces `abc" +\\n "def` whole)."""
    text = p.text
    found: list[tuple[int, int, str, int]] = []
    if "\\\n" in text or "\\\r\n" in text:
        found += ((m.start(), m.end(), "", 1) for m in islice(_CONTINUATION.finditer(text), max_runs))
    if '"' in text or "'" in text or "`" in text:
        found += _joint_runs(p, max_runs)
    found += _wrap_runs(p, max_runs)
    found.sort()
    return from_runs(text, found[:max_runs])


# -- spaced-out characters: `g h p _ ...`, `g-h-p-_`, `g.h.p`, one per line -------------------------------

# A character, a separator, a character, then the same separator before each of at least 6 more (the
# reading is filtered for length below). Possessive, and ending with its repeat: a start costs at most the
# run it begins, and a run is matched whole from its first character.
_SEPARATOR = r"[ \t]{1,2}|\r?\n|[-.,|:/;*+~]| [-|/;*+~] |, |'[, ]{1,2}'|\"[, ]{1,2}\""
_SPACED = re.compile(rf"[^\s](?P<sep>{_SEPARATOR})[^\s](?:(?P=sep)[^\s]){{6,}}+")
_ALNUM8 = re.compile(r"[A-Za-z0-9]{8}")
SPACED_SHAPE = table((_ALNUM, b"a"), (b" \t\r\n-.,|:/;*+~'\"", b"s"))
# 8 letters or digits in a row, each followed by a separator of 1 to 4 characters (`', '` in a list of
# characters): the trigger.
_SPACED_NEEDLES = tuple(b"a" + (b"s" * k + b"a") * 7 for k in (1, 2, 3, 4))
_MARGIN = 1024  # characters around a needle searched for the run holding it


def _regions(p: Probe) -> list[tuple[int, int]]:
    """Where spaced runs can be: around the needles of the text's shape (the whole text if not ASCII)."""
    shape = p.shape(SPACED_SHAPE)
    nxt = {n: q for n in _SPACED_NEEDLES if (q := shape.find(n)) != -1}
    if not nxt:
        return []
    if not p.text.isascii():
        return [(0, len(p.text))]
    out: list[tuple[int, int]] = []
    while nxt:
        q = min(nxt.values())
        start, end = max(q - _MARGIN, 0), min(q + 2 * _MARGIN, len(shape))
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
        for n, at in list(nxt.items()):  # a needle is searched again only once passed: linear
            if at < end:
                at = shape.find(n, end)
                if at == -1:
                    del nxt[n]
                else:
                    nxt[n] = at
    return out


def _glued(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def has_spaced(p: Probe) -> bool:
    shape = p.shape(SPACED_SHAPE)
    return any(n in shape for n in _SPACED_NEEDLES)


def spaced(p: Probe, min_chars: int, max_runs: int) -> Rewrite | None:
    """Runs of single characters split by one repeated separator, read without it (a strided map: a
    finding spans from its first character to its last)."""
    text = p.text
    found: list[tuple[int, int, str, int]] = []
    for a, b in _regions(p):
        for m in _SPACED.finditer(text, a, b):
            step = 1 + len(m.group("sep"))
            start, end = m.start(), m.end()
            if start and _glued(text[start - 1]):  # `is g h p`: the `s` belongs to a word
                start += step
            if end < len(text) and _glued(text[end]):  # `9 ok`: the `o` belongs to a word
                end -= step
            reading = text[start:end:step]
            if len(reading) >= min_chars and _ALNUM8.search(reading) and len(set(reading)) >= 5:
                found.append((start, end, reading, -step))
                if len(found) >= max_runs:
                    return from_runs(text, found)
    return from_runs(text, found)


# -- NUL-interleaved text: UTF-16 bytes read as UTF-8 (a body whose declared charset is wrong) ------------

_NUL_RUN = re.compile(r"((?:[^\x00]\x00){8,}+[^\x00]?)")
_EVERY_OTHER = itemgetter(slice(None, None, 2))


def nul_interleaved(p: Probe, max_runs: int) -> Rewrite | None:
    if "\x00" not in p.text:
        return None
    rw = split_rewrite(p.text, _NUL_RUN, _EVERY_OTHER, max_runs)
    if rw is not None:
        rw.scales[1::2] = [-2] * (len(rw.scales) // 2)
    return rw
