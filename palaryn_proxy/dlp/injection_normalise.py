"""Text as the prompt-injection lexicon reads it: NFKC-folded, lower-cased, invisible characters dropped,
look-alike letters and leetspeak spelled out, Latin diacritics removed. Every step is a C-speed pass or a
bounded loop over candidate places found with a byte-class shape of the text."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .normalize import HOMOGLYPHS, INVISIBLE, INVISIBLE_RE

_PUNCT = re.compile(
    "[\u2018\u2019\u02bc\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a\u2026\u00a0\u3000\u2010-\u2015\u2212\u2022]"
)
_PUNCT_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u02bc": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "'",
    "\u203a": "'",
    "\u2026": "...",
    "\u00a0": " ",
    "\u3000": " ",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2022": "*",
}
_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_MARKS = re.compile("[\u0300-\u036f]++")
_UNDECOMPOSED = re.compile("[\u0142\u0111\u00f8\u00e6\u0153\u00df\u00fe\u0127\u0131]")
_UNDECOMPOSED_MAP = {
    "\u0142": "l",
    "\u0111": "d",
    "\u00f8": "o",
    "\u00e6": "ae",
    "\u0153": "oe",
    "\u00df": "ss",
    "\u00fe": "th",
    "\u0127": "h",
    "\u0131": "i",
}
# a Latin letter next to a Cyrillic or Greek look-alike: a word spelled in mixed scripts to dodge filters
_HOMO_CHARS = "".join(c for c in HOMOGLYPHS if not c.isascii() and c.lower() == c and c.isalpha())
_MIXED = re.compile(f"[a-z][{_HOMO_CHARS}]|[{_HOMO_CHARS}][a-z]")
_HOMO_TABLE = str.maketrans({c: HOMOGLYPHS[c] for c in _HOMO_CHARS})
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
# Characters with compatibility forms (NFKC changes them): full-width and half-width forms, ligatures,
# mathematical and enclosed letters, Arabic presentation forms, compatibility jamo, spacing modifiers.
_COMPAT = re.compile(
    "[\u00a0-\u00bf\u0132-\u0133\u013f-\u0140\u0149\u017f\u01c4-\u01cc\u02b0-\u02ff\u1d2c-\u1dbf\u2000-\u24ff"
    "\u2c7c-\u2c7d\u2e9f\u2ef3\u2f00-\u2fdf\u3000\u3131-\u318e\u3192-\u319f\u3200-\u33ff\ua69c-\ua69d\ua770"
    "\ua7f8-\ua7f9\uab5c-\uab5f\uf900-\ufaff\ufb00-\ufdff\ufe10-\ufe19\ufe30-\ufe6f\ufe70-\ufeff\uff00-\uffef"
    "\U0001d400-\U0001d7ff\U0001e030-\U0001e08f\U0001ee00-\U0001eeff\U0001f100-\U0001f1ff\U0001fbf0-\U0001fbf9]++"
)
_HOMO_RUN = re.compile(f"[{_HOMO_CHARS}]++")
# UTF-8 bytes by script: a = ASCII letter, c = lead byte of Greek/Cyrillic, k = lead byte of CJK/kana/Hangul,
# x = continuation byte
_SCRIPT_SHAPE = bytes(
    ord("a") if 97 <= b <= 122 else ord("c") if 0xCE <= b <= 0xD4 else ord("k") if b in (0xE3, 0xE4, 0xE5, 0xE6,
    0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED) else ord("x") if 0x80 <= b <= 0xBF else ord(".") for b in range(256)
)  # fmt: skip
_CJK = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_CJK_LATIN = re.compile(f"([{_CJK}])([a-z0-9])")
_LATIN_CJK = re.compile(f"([a-z0-9])([{_CJK}])")


@lru_cache(maxsize=4096)
def _base(ch: str) -> str:
    """A Latin letter without its diacritics."""
    return "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))


_SPACES = re.compile(r"[ \t\f\v]{2,}+|\t")


MAX_WORD = 64  # a "word" longer than this is cut there: expanding to word ends stays bounded
_WORD_BEFORE = re.compile(r"\w{1,64}$")
_WORD_AFTER = re.compile(r"\w{1,64}")


def _unmix(low: str) -> str:
    """Words mixing Latin letters with Cyrillic/Greek look-alikes, spelled in Latin ("іgnоrе" -> "ignore");
    words wholly in one script are left alone, so Russian or Greek text stays as it is."""
    parts: list[str] = []
    pos = 0
    for n, m in enumerate(_MIXED.finditer(low)):
        if n >= 1000:
            break
        if m.start() < pos:
            continue
        a = _WORD_BEFORE.search(low, max(pos, m.start() - MAX_WORD), m.start() + 1)
        b = _WORD_AFTER.match(low, m.start(), m.start() + MAX_WORD)
        start, end = a.start() if a else m.start(), b.end() if b else m.end()
        parts += [low[pos:start], low[start:end].translate(_HOMO_TABLE)]
        pos = end
    return "".join(parts) + low[pos:] if parts else low


def normalise(text: str) -> str:
    """NFKC-folded, lower-cased, invisible characters dropped, mixed-script words spelled in Latin, Latin
    diacritics removed, typographic quotes as ASCII, runs of spaces as one. Each step is a C-speed pass;
    plain ASCII skips all but the last."""
    if text.isascii():
        low = text.lower()
        if "\r" in low:
            low = low.replace("\r", "\n")
        return _SPACES.sub(" ", low) if "  " in low or "\t" in low else low
    low = _COMPAT.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)  # only what NFKC may change
    if _INVISIBLE.search(low):
        low = INVISIBLE_RE.sub("", low)
    low = low.lower()
    shape = low.encode("utf-8", "surrogatepass").translate(_SCRIPT_SHAPE)
    if b"ac" in shape or b"cxa" in shape:  # a Latin letter next to a Cyrillic or Greek one
        cyrillic, latin = shape.count(b"c"), shape.count(b"a")
        # in Latin text every look-alike is a disguise; in Russian or Greek text only mixed words are
        low = (
            _HOMO_RUN.sub(lambda m: m.group().translate(_HOMO_TABLE), low)
            if cyrillic < latin // 20
            else _unmix(low)
        )
    if _PUNCT.search(low):
        low = _PUNCT.sub(lambda m: _PUNCT_MAP[m.group()], low)
    if _ACCENTED.search(low):
        if len(low.encode("utf-8")) - len(low) < len(low) // 20:  # a few accents: replace just them
            low = _ACCENTED.sub(lambda m: _base(m.group()), low)
        else:
            low = unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", low)))
        low = _UNDECOMPOSED.sub(lambda m: _UNDECOMPOSED_MAP[m.group()], low)
    if b"ak" in shape or b"ka" in shape:  # "给ai助手": a Latin word inside CJK text gets its word boundaries
        low = _CJK_LATIN.sub(r"\1 \2", _LATIN_CJK.sub(r"\1 \2", low))
    if "\r" in low:
        low = low.replace("\r", "\n")
    return _SPACES.sub(" ", low) if "  " in low or "\t" in low else low


_LEET_MAP = str.maketrans("0134579@$", "oieastgas")
_LEET_SHAPE = bytes(
    ord("a")
    if 97 <= b <= 122
    else ord("1")
    if chr(b) in "0134579@$"
    else ord("2")
    if 48 <= b <= 57
    else ord(".")
    for b in range(256)
)


def _numeronym(word: str) -> bool:
    """An abbreviation, not letters in disguise: a digit no leetspeak uses (2, 6, 8: "i18n", "k8s") or a known
    numeronym ("l10n", "a11y")."""
    return any(c in "268" for c in word) or word in _NUMERONYMS


_NUMERONYMS = frozenset({"l10n", "a11y", "g11n", "m17n", "i14y", "e13n", "p13n", "o11y", "s11n", "c14n"})


def unleet(low: str, limit: int = 3000) -> str:
    """`low` with leetspeak words ("1gn0r3", "pr3v10us", "p@ssw0rd") spelled in letters; same length, so
    offsets hold. A word qualifies if it mixes letters with leet digits, is shorter than MAX_WORD and is not a
    hex string. Candidate places come from a byte-class shape of the text searched with bytes.find."""
    if not low.isascii():
        return low  # leetspeak is ASCII; the shape's offsets are character offsets only for ASCII text
    shape = low.encode("ascii").translate(_LEET_SHAPE)
    spots: list[int] = []
    for pair in (b"a1", b"1a"):
        at = shape.find(pair)
        while at != -1 and len(spots) < limit:
            spots.append(at)
            at = shape.find(pair, at + 2)
    if not spots:
        return low
    parts: list[str] = []
    done = 0  # low[:done] is in parts
    seen = 0  # spots before this were inside a word already looked at
    for at in sorted(spots):
        if at < seen:
            continue
        a = shape.rfind(b".", max(seen, at - MAX_WORD), at) + 1 or max(seen, at - MAX_WORD)
        b = shape.find(b".", at + 2, at + 2 + MAX_WORD)
        b = b if b != -1 else min(len(shape), at + 2 + MAX_WORD)
        seen = b
        word = low[a:b]
        if "@" in word and low.startswith(".", b):
            continue  # an e-mail address or a handle's domain, not "p@ssw0rd"
        if (
            3 <= len(word) < MAX_WORD
            and not all(c in "0123456789abcdef" for c in word)
            and not _numeronym(word)
        ):
            parts += [low[done:a], word.translate(_LEET_MAP)]
            done = b
    return "".join(parts) + low[done:] if parts else low
