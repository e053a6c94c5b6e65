"""Words, as the PII detectors look for them: keywords folded like the scanned text, field names split into words."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .normalize import fold

CJK_START = 0x2E80  # from here on, scripts without spaces between words: no word boundary to check
_KEY_WORD = re.compile(r"[A-Z]?[a-z]{1,40}+|[A-Z]{1,40}+(?![a-z])|\d{1,40}+|[^\W\d_A-Za-z]{1,40}+")


def folded(words: Iterable[str]) -> tuple[str, ...]:
    """Each word as the scanned text holds it: folded (homoglyphs mapped: Cyrillic `а` is Latin `a` there)
    and lower-cased, in the spellings its case variants fold to (`Т` folds to `T`, `т` stays Cyrillic)."""
    out: dict[str, None] = {}
    for w in words:
        for v in (w, w.upper(), w.capitalize(), w.title()):
            out[fold(v)[0].lower()] = None
    return tuple(out)


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literals, longest first (so `september` is tried before `sep`)."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


_DIGIT = re.compile(r"\d")


def digit_near(text: str, pos: int, reach: int = 160) -> bool:
    """Is there a digit in the `reach` characters from pos? Every date, passport and phone number has one:
    a word with none after it (a flood of `born in ...`) is passed over before any tail pattern runs."""
    return _DIGIT.search(text, pos, pos + reach) is not None


def key_words(name: str) -> list[str]:
    """A field name's words, lower-cased: `patientDOB` -> patient, dob; `date_of_birth` -> date, of, birth."""
    return [w.lower() for w in _KEY_WORD.findall(name[:100])]


def starts_word(text: str, s: int) -> bool:
    """Does a word start at s (any character of a script without spaces does)? `dob` in `dob:`, `_dob`,
    not in `adobe`."""
    return ord(text[s]) >= CJK_START or s == 0 or not text[s - 1].isalnum()


def whole_word(text: str, s: int, e: int) -> bool:
    """Is text[s:e] a word of its own? `tel` in `tel.`, not in `hotel` or `telemetry`."""
    if not starts_word(text, s):
        return False
    return ord(text[e - 1]) >= CJK_START or not (
        e < len(text) and text[e - 1].isalpha() and text[e].isalpha()
    )
