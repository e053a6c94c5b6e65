"""Bytes to text and Unicode folding (NFKC, invisible characters dropped, homoglyphs mapped), with offset maps."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import chain, compress
from operator import ne

from .offsets import LazyMap, MapBuilder, OffsetMap, Utf8Offsets

# Invisible characters used to split or hide text: zero-width, joiners, soft hyphen, bidi controls,
# variation selectors and the Unicode "tag" block (ASCII smuggling).
INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef"
)
INVISIBLE_RE = re.compile(f"[{INVISIBLE}]")

# Letters that render like ASCII letters but that NFKC keeps apart (Cyrillic, Greek, a few IPA/Latin).
HOMOGLYPHS: dict[str, str] = {
    **dict(zip("аеорсухіјѕԁһӏԛԝ", "aeopcyxijsdhlqw", strict=True)),
    **dict(zip("АВЕКМНОРСТХУІЈЅ", "ABEKMHOPCTXYIJS", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν", "ABEZHIKMNOPTYXoiv", strict=True)),
    "ɡ": "g",
    "ɑ": "a",
    "ı": "i",
    "ȷ": "j",
    "ℓ": "l",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "−": "-",
    "⁄": "/",
    "∕": "/",
}
_SPECIAL_RE = re.compile(f"[{INVISIBLE}{''.join(HOMOGLYPHS)}]")
_NON_ASCII_SPLIT = re.compile("([^\x00-\x7f]++)")
# Unicode tag characters that mirror printable ASCII (U+E0020-E007E): text hidden from the reader
# ("ASCII smuggling"). A run of at least 8 reads as the ASCII it hides, set apart by spaces; a shorter one
# (a character or two splitting a visible token) is dropped like any invisible character.
TAG_RUN = re.compile("[\U000e0020-\U000e007e]{8,}+")


def decode_utf8(data: bytes) -> tuple[str, OffsetMap | None]:
    """Decode bytes as UTF-8 (invalid bytes kept as surrogates); the map leads back to byte offsets."""
    text = data.decode("utf-8", "surrogateescape")
    if len(text) == len(data):
        return text, None
    return text, Utf8Offsets(text)


@lru_cache(maxsize=1 << 16)
def fold_char(ch: str) -> str:
    """The folded form of one non-ASCII character ('' for invisible ones)."""
    if INVISIBLE_RE.match(ch):
        return ""
    mapped = HOMOGLYPHS.get(ch)
    if mapped is not None:
        return mapped
    folded = unicodedata.normalize("NFKC", ch)
    return "".join(HOMOGLYPHS.get(c, c) for c in folded if not INVISIBLE_RE.match(c))


Pieces = tuple[list[int], list[int], list[int]]  # OffsetMap.spliced's source lengths, output lengths, scales


def fold(text: str) -> tuple[str, OffsetMap | None]:
    """NFKC-fold, drop invisible characters, map homoglyphs and read tag-character runs as the ASCII they
    hide; None map when nothing changed.

    Each distinct run of non-ASCII characters is folded once (_fold_run); the text and its map are then
    assembled from the runs and the ASCII between them at C speed (re.split, map, chain): a text of many
    small runs (a MiB of `a` and a zero-width space) costs no Python step per run."""
    if text.isascii():
        return text, None
    parts = _NON_ASCII_SPLIT.split(text)  # ASCII, run, ASCII, run, ..., ASCII
    runs = parts[1::2]
    folded = {run: _fold_run(run) for run in set(runs)}
    if not any(folded.values()):
        return text, None
    out_of: dict[str, str] = {}
    pieces_of: dict[str, Pieces] = {}
    for run, got in folded.items():
        out_of[run], pieces_of[run] = got if got is not None else (run, ([len(run)], [len(run)], [1]))
    out_parts = parts.copy()
    out_parts[1::2] = map(out_of.__getitem__, runs)
    out = "".join(out_parts)
    return out, LazyMap(len(out), lambda: _fold_map(parts, runs, pieces_of))


def _fold_map(parts: list[str], runs: list[str], pieces_of: dict[str, Pieces]) -> OffsetMap:
    """The map of a folded text: the ASCII parts copied, each run by its pieces."""
    lens = list(map(len, parts))  # ASCII copied as it is (and a run of one piece: its lengths, below)
    columns: list[list[int]] = []
    single = all(len(p[0]) == 1 for p in pieces_of.values())
    for k in range(3):  # source lengths, output lengths, scales
        if single:  # one piece per run: a value per part, no flattening
            column = lens.copy() if k < 2 else [1] * len(parts)
            column[1::2] = map({run: p[k][0] for run, p in pieces_of.items()}.__getitem__, runs)
        else:
            seq: list[list[int]] = [[n] for n in lens] if k < 2 else [[1]] * len(parts)
            seq[1::2] = map({run: p[k] for run, p in pieces_of.items()}.__getitem__, runs)
            column = list(chain.from_iterable(seq))
        columns.append(column)
    return OffsetMap.spliced(0, columns[0], columns[1], columns[2])


def _fold_run(run: str) -> tuple[str, Pieces] | None:
    """A run of non-ASCII characters folded, with its map as pieces from position 0; None when folding
    leaves it as it is."""
    if unicodedata.is_normalized("NFKC", run) and not _SPECIAL_RE.search(run):
        return None
    b = MapBuilder()
    at = 0
    for t in TAG_RUN.finditer(run):
        _fold_chars(b, run[at : t.start()], at)
        _tags(b, t.group(), t.start())
        at = t.end()
    _fold_chars(b, run[at:], at)
    out, m = b.build()
    return out, m.pieces(len(run))


def _fold_chars(b: MapBuilder, run: str, i: int) -> None:
    """Fold each character; the stretches folding leaves alone are copied whole (found at C speed)."""
    outs = list(map(fold_char, run))
    start = 0
    for k in compress(range(len(run)), map(ne, outs, run)):
        b.copy(run[start:k], i + start)
        b.sub(i + k, 1, outs[k])
        start = k + 1
    b.copy(run[start:], i + start)


def _tags(b: MapBuilder, run: str, i: int) -> None:
    """A tag run as ASCII (one character each, mapped one to one), between spaces that map to nothing."""
    b.sub(i, 0, " ")
    b.copy(run.encode("utf-32-le")[::4].decode("ascii"), i)
    b.sub(i + len(run), 0, " ")
