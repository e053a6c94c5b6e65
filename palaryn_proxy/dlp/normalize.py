"""Bytes to text and Unicode folding (NFKC, invisible characters dropped, homoglyphs mapped), with offset maps."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import compress
from operator import ne

from .offsets import MapBuilder, OffsetMap

# Runs of characters by their UTF-8 width; surrogateescape'd bytes (U+DC80..U+DCFF) are one byte each.
_WIDTH_RUNS = re.compile(
    "([\x00-\x7f\udc80-\udcff]++)|([\x80-\u07ff]++)|([\u0800-\udc7f\udd00-\uffff]++)|([\U00010000-\U0010ffff]++)"
)

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
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]++")
# Unicode tag characters that mirror printable ASCII (U+E0020-E007E): text hidden from the reader
# ("ASCII smuggling"). A run of at least 8 reads as the ASCII it hides, set apart by spaces; a shorter one
# (a character or two splitting a visible token) is dropped like any invisible character.
TAG_RUN = re.compile("[\U000e0020-\U000e007e]{8,}+")


def decode_utf8(data: bytes) -> tuple[str, OffsetMap | None]:
    """Decode bytes as UTF-8 (invalid bytes kept as surrogates); the map leads back to byte offsets."""
    text = data.decode("utf-8", "surrogateescape")
    if len(text) == len(data):
        return text, None
    b = MapBuilder()
    pos = 0
    for m in _WIDTH_RUNS.finditer(text):
        run = m.group()
        width = m.lastindex or 1
        b.copy(run, pos, width)
        pos += len(run) * width
    return b.build()


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


def fold(text: str) -> tuple[str, OffsetMap | None]:
    """NFKC-fold, drop invisible characters, map homoglyphs and read tag-character runs as the ASCII they
    hide; None map when nothing changed."""
    if text.isascii():
        return text, None
    b: MapBuilder | None = None
    pos = 0
    for m in _NON_ASCII_RUN.finditer(text):
        run = m.group()
        if unicodedata.is_normalized("NFKC", run) and not _SPECIAL_RE.search(run):
            continue
        if b is None:
            b = MapBuilder()
        b.copy(text[pos : m.start()], pos)
        at = 0
        for t in TAG_RUN.finditer(run):
            _fold_chars(b, run[at : t.start()], m.start() + at)
            _tags(b, t.group(), m.start() + t.start())
            at = t.end()
        _fold_chars(b, run[at:], m.start() + at)
        pos = m.end()
    if b is None:
        return text, None
    b.copy(text[pos:], pos)
    return b.build()


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
