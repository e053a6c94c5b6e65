"""Character-level encodings read back: HTML entities, backslash escapes (`\\u0067`, `\\x67`), %-encoding, hex."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from html.entities import html5
from itertools import compress, islice

from .layer_bytes import bytes_text
from .normalize import fold_char
from .shapes import MARK, runs
from .shapes import _table as table  # the layers' shapes are built as shapes.py builds its own

# A character a secret or an address can hold (after folding): what makes a decoded run worth a reading.
TOKENISH = re.compile(r"[\w+/=.~:@%-]")
_ASCII_TOKEN = re.compile(r"^[A-Za-z0-9_+/=.~:@-]$")


class Probe:
    """A text a layer reads, with its UTF-8 bytes and their shapes (bytes.translate tables) computed once
    for all layers."""

    __slots__ = ("text", "_data", "_shapes")

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: bytes | None = None
        self._shapes: dict[bytes, bytes] = {}

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.text.encode("utf-8", "surrogatepass")
        return self._data

    def shape(self, classes: bytes) -> bytes:
        got = self._shapes.get(classes)
        if got is None:
            got = self._shapes[classes] = self.data.translate(classes)
        return got


@dataclass(slots=True)
class Rewrite:
    """A text cut into consecutive pieces (`src`), what each piece reads as (`out`), how its characters map
    (`scales`: 1 copied, 0 atomic, -k strided, see OffsetMap) and the pieces that matter (`marks`)."""

    src: list[str]
    out: list[str]
    scales: list[int]
    marks: list[int]


def split_rewrite(
    text: str, run_re: re.Pattern[str], decode: Callable[[str], str], max_runs: int
) -> Rewrite | None:
    """Encoded runs found by `run_re` (one group: the run) read with `decode`, all at C speed: re.split and
    map, no Python step per run. At most `max_runs` runs are read; the rest of the text stays as it is."""
    parts = run_re.split(text, max_runs)
    if len(parts) == 1:
        return None
    outs = list(map(decode, parts[1::2]))
    marks = list(compress(range(1, len(parts), 2), map(TOKENISH.search, outs)))
    if not marks:
        return None
    out = parts.copy()
    out[1::2] = outs
    return Rewrite(parts, out, [1, 0] * len(outs) + [1], marks)


def from_runs(text: str, found: list[tuple[int, int, str, int]]) -> Rewrite | None:
    """A Rewrite from (start, end, reading, scale) runs in order; a run overlapping the one before is dropped."""
    if not found:
        return None
    src: list[str] = []
    out: list[str] = []
    scales: list[int] = []
    marks: list[int] = []
    pos = 0
    for s, e, reading, scale in found:
        if s < pos:
            continue
        if s > pos:
            src.append(text[pos:s])
            out.append(text[pos:s])
            scales.append(1)
        marks.append(len(src))
        src.append(text[s:e])
        out.append(reading)
        scales.append(scale)
        pos = e
    src.append(text[pos:])
    out.append(text[pos:])
    scales.append(1)
    return Rewrite(src, out, scales, marks)


# -- HTML entities -----------------------------------------------------------------------------------------


def _token_entity(ch: str) -> bool:
    folded = ch if ch.isascii() else fold_char(ch)
    return len(folded) == 1 and _ASCII_TOKEN.match(folded) is not None


# Named entities that read as a character of a token (`&lowbar;` `_`, `&period;`, `&Aopf;` 𝔸 -> A); the
# common ones of prose (`&amp;` `&lt;` `&nbsp;` `&eacute;`) cannot hide a secret and are left alone.
NAMED = {
    f"&{name}": ch for name, ch in html5.items() if name.endswith(";") and len(ch) == 1 and _token_entity(ch)
}
NAMES = "|".join(re.escape(n[1:-1]) for n in sorted(NAMED, key=len, reverse=True))
_ENTITY_BODY = rf"#[0-9]{{1,7}}+;?|#[xX][0-9A-Fa-f]{{1,6}}+;?|(?:{NAMES});"
ENTITY = f"&(?:{_ENTITY_BODY})"
_ENTITY_ONE = re.compile(ENTITY)
# Led by the literal `&` (the regex engine then skips to it at memchr speed): many times faster than a
# pattern led by a group.
_ENTITY_RUN = re.compile(f"(&(?:{_ENTITY_BODY})(?:&(?:{_ENTITY_BODY}))*+)")
# Numeric references alone: the run pattern for a text without a named one of NAMED (a long alternation
# costs a step per name at every `&` of an HTML page).
_NUMERIC = r"#[0-9]{1,7}+;?|#[xX][0-9A-Fa-f]{1,6}+;?"
_NUMERIC_RUN = re.compile(f"(&(?:{_NUMERIC})(?:&(?:{_NUMERIC}))*+)")
_ANY_NAMED = re.compile(r"&[A-Za-z][A-Za-z0-9]{1,31}+;")
_NAMED_SET = frozenset(NAMED)


@lru_cache(maxsize=4096)
def _entity(e: str) -> str:
    if e[1] != "#":
        return NAMED[e]
    digits = e[2:].rstrip(";")
    cp = int(digits[1:], 16) if digits[0] in "xX" else int(digits)
    return chr(cp) if 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd"


_DECIMALS = re.compile(r"(?:&#[0-9]{1,7}+;?)++")
_HEXES = re.compile(r"(?:&#[xX][0-9A-Fa-f]{1,6}+;?)++")
_NUMBER = re.compile(r"[0-9A-Fa-f]++")


class _Chars(dict[str, str]):
    """Digits of a character reference (base 10 or 16) to the character, remembered (at most 64Ki)."""

    def __init__(self, base: int) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, digits: str) -> str:
        cp = int(digits, self.base)
        ch = chr(cp) if 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd"
        if len(self) < 1 << 16:
            self[digits] = ch
        return ch


_DECIMAL_CHARS, _HEX_CHARS = _Chars(10), _Chars(16)


@lru_cache(maxsize=8192)  # the same references recur all over a page: `&#8217;`
def _entities(run: str) -> str:
    """A run of entities as text; a run of decimal or of hex references alone (`&#103;&#104;`) at C speed."""
    if _DECIMALS.fullmatch(run):
        digits = run[2:-1].split(";&#") if run.count(";") == run.count("&") else _NUMBER.findall(run)
        return "".join(map(_DECIMAL_CHARS.__getitem__, digits))
    if _HEXES.fullmatch(run):
        flat = run.replace("X", "x")
        digits = (
            flat[3:-1].split(";&#x")
            if run.count(";") == run.count("&")
            else _NUMBER.findall(flat.replace("x", ";"))
        )
        return "".join(map(_HEX_CHARS.__getitem__, digits))
    return "".join(map(_entity, _ENTITY_ONE.findall(run)))


def _named(text: str) -> bool:
    """Does text hold a named reference of NAMED? (All named ones found by one cheap pattern, then a set.)"""
    return not _NAMED_SET.isdisjoint(_ANY_NAMED.findall(text))


_NUMERIC_REF = re.compile(r"&#([0-9]{1,7}+|[xX][0-9A-Fa-f]{1,6}+)")


def _tokenish_numeric(text: str) -> bool:
    """Does a numeric reference in text stand for a character a token can hold? A page's own (`&#8217;`,
    `&#160;`) do not: then nothing is split. Each distinct reference is decoded once."""
    for ref in set(_NUMERIC_REF.findall(text)):
        ch = _HEX_CHARS[ref[1:]] if ref[0] in "xX" else _DECIMAL_CHARS[ref]
        if TOKENISH.match(ch if ch.isascii() else fold_char(ch) or " "):
            return True
    return False


def has_entities(p: Probe) -> bool:
    t = p.text
    return "&" in t and (("&#" in t and _tokenish_numeric(t)) or _named(t))


def entities(p: Probe, max_runs: int) -> Rewrite | None:
    """`&#103;&#x68;&lowbar;`: each run of entities reads as its characters, mapped to the whole run."""
    if "&" not in p.text:
        return None
    if _named(p.text):
        return split_rewrite(p.text, _ENTITY_RUN, _entities, max_runs)
    if "&#" in p.text and _tokenish_numeric(p.text):
        return split_rewrite(p.text, _NUMERIC_RUN, _entities, max_runs)
    return None


# -- backslash escapes -------------------------------------------------------------------------------------

# Up to four backslashes before each: an escape escaped again (`\\u0067` in a JSON string) reads the same.
ESCAPE = r"\\\\{0,3}+(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]{1,6}\}|[0-3][0-7]{2})"
_ESCAPE_ONE = re.compile(ESCAPE)
_ESCAPE_RUN = re.compile(f"({ESCAPE}(?:{ESCAPE})*+)")
_BACKSLASHES = re.compile(r"\\{2,4}")
_BRACED = re.compile(r"\\u\{([0-9A-Fa-f]{1,6})\}")


def _braced(m: re.Match[str]) -> str:
    cp = int(m.group(1), 16)
    return f"\\U{cp:08x}" if cp <= 0x10FFFF else "\\ufffd"


def _unescape(run: str) -> str:
    if "\\\\" in run:
        run = _BACKSLASHES.sub(r"\\", run)
    if "{" in run:
        run = _BRACED.sub(_braced, run)
    try:
        text = run.encode("ascii").decode("unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return run
    if not text.isascii():
        if max(text) < "\u0100":  # `\xe4\xb8\xad`: UTF-8 bytes spelled one by one
            try:
                return text.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                return text
        if any("\ud800" <= c <= "\udfff" for c in text):  # `\ud83d\ude00`: a surrogate pair
            return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def has_escapes(p: Probe) -> bool:
    t = p.text
    if "\\" not in t:
        return False
    if "\\u" in t or "\\x" in t or "\\U" in t or any(f"\\{d}" in t for d in "0123"):
        return _ESCAPE_ONE.search(t) is not None
    return False


def escapes(p: Probe, max_runs: int) -> Rewrite | None:
    """`\\u0067\\x68\\160`: each run of escapes reads as its characters, mapped to the whole run."""
    return split_rewrite(p.text, _ESCAPE_RUN, _unescape, max_runs) if "\\" in p.text else None


# -- %-encoding --------------------------------------------------------------------------------------------

_PERCENT_ONE = re.compile(r"%[0-9A-Fa-f]{2}")
_PERCENT_RUN = re.compile(r"(%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*+)")


def _unpercent(run: str) -> str:
    return bytes.fromhex(run.replace("%", "")).decode("utf-8", "surrogateescape")


def has_percent(p: Probe) -> bool:
    return "%" in p.text and _PERCENT_ONE.search(p.text) is not None


def percent(p: Probe, max_runs: int) -> Rewrite | None:
    """`ghp%5F...` in any text (queries and forms are decoded once already: this reads a second encoding);
    a run that decodes to `%` counts, so the next round reads `%255F` fully."""
    return split_rewrite(p.text, _PERCENT_RUN, _unpercent, max_runs) if "%" in p.text else None


# -- hex ---------------------------------------------------------------------------------------------------

HEX_SHAPE = table((b"0123456789abcdefABCDEF", MARK), (b" :,-", b"s"))
HEX_DIGITS = table((b"0123456789abcdefABCDEF", MARK))  # for shapes.runs: every other byte `.`
# Byte pairs with separators: `67 68 70`, `67:68:70`, `0x67, 0x68`; 16 bytes at least.
_HEX_PAIRS = re.compile(r"(?:0[xX])?[0-9A-Fa-f]{2}(?:(?:, ?|[ :-])(?:0[xX])?[0-9A-Fa-f]{2}){15,}+")
_PAIR_NEEDLES = (b"xxs" * 8, b"xxss" * 8, b"x.xxs" * 8, b"x.xxss" * 8)
_ZIPPED = ("1f8b", "1F8B", "28b52ffd", "28B52FFD")  # gzip, zstd magic


def _hex_kind(digits: str, compressed: bool, wide: bool) -> str | None:
    """What hex digits can hold, told without decoding: "z" compressed data (gzip, zlib, zstd magic), "w"
    UTF-16 (NUL bytes), "t" text (mostly printable ASCII), None (a hash, a key, random bytes)."""
    if compressed and (digits.startswith(_ZIPPED) or (digits[:2] == "78" and int(digits[:4], 16) % 31 == 0)):
        return "z"
    firsts = digits[0:32:2]
    if sum(map(firsts.count, "234567")) >= 12:
        return "t"
    if wide and (digits[0:32:4].count("0") >= 6 or digits[2:32:4].count("0") >= 6):
        return "w"
    return None


MAX_HEX = 2 << 20  # characters of one hex run read (its last MAX_HEX, kept even)


@lru_cache(maxsize=8)
def _hex_re(n: int) -> re.Pattern[str]:
    return re.compile(f"[0-9A-Fa-f]{{{n},}}+")


def _hex_spans(p: Probe, min_length: int, limit: int) -> list[tuple[int, int]]:
    text, shape = p.text, p.shape(HEX_SHAPE)
    found: list[tuple[int, int]] = []
    if MARK * min_length in shape:
        if text.isascii():
            found += islice(runs(text, HEX_DIGITS, min_length), limit)
        else:
            found += islice((m.span() for m in _hex_re(min_length).finditer(text)), limit)
    if any(n in shape for n in _PAIR_NEEDLES):
        found += islice((m.span() for m in _HEX_PAIRS.finditer(text)), limit)
    found.sort()
    return found[:limit]


def has_hex(p: Probe) -> bool:
    """A necessary condition for hex_runs (32 hex digits in a row, or 16 separated pairs)."""
    shape = p.shape(HEX_SHAPE)
    return MARK * 32 in shape or any(n in shape for n in _PAIR_NEEDLES)


def hex_runs(
    p: Probe, min_length: int, room: int, max_runs: int, compressed: bool, wide: bool
) -> Rewrite | None:
    """Runs of hex (`6768705f...`, `67 68 70`, `0x67, 0x68`) whose bytes are text (UTF-8, compressed, UTF-16):
    each reads as that text, mapped to the whole run (redaction replaces the run)."""
    text = p.text
    found: list[tuple[int, int, str, int]] = []
    for s, e in _hex_spans(p, min_length, max_runs):
        if e - s > MAX_HEX:
            s = e - MAX_HEX
        run = text[s:e]
        if run.isalnum():
            digits = run[(e - s) % 2 :]
        else:
            digits = run.replace("0x", "  ").replace("0X", "  ").replace(":", " ").replace(",", " ")
            digits = digits.replace("-", " ").replace(" ", "")
        kind = _hex_kind(digits, compressed, wide)
        if kind is None:
            continue
        decoded = bytes_text(bytes.fromhex(digits), room, kind == "z", kind != "t")
        if decoded is not None and TOKENISH.search(decoded[0]):
            found.append((s, e, decoded[0], 0))
            room -= decoded[1]
    return from_runs(text, found)
