"""ICAO 9303 machine-readable zones (passports TD3 2x44, identity cards TD1 3x30 and TD2 2x36), check digits verified."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import PII, Detector, Span, rx

_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")} | {"<": 0}


def check_digit(field: str) -> int:
    """ICAO 9303 check digit: character values (digits, A=10..Z=35, `<`=0) weighted 7, 3, 1, modulo 10."""
    return sum(_VALUES[c] * (7, 3, 1)[i % 3] for i, c in enumerate(field)) % 10


def _ok(field: str, digit: str) -> bool:
    return digit.isdigit() and check_digit(field) == int(digit)


def _optional_ok(field: str, digit: str) -> bool:
    """An optional field's check digit: `<` (or 0) when the field is empty."""
    if field.strip("<") == "":
        return digit in "<0"
    return _ok(field, digit)


def td3_ok(line2: str) -> bool:
    """Document number, birth date, expiry, personal number and composite check digits of a passport's line 2."""
    return (
        _ok(line2[0:9], line2[9])
        and _ok(line2[13:19], line2[19])
        and _ok(line2[21:27], line2[27])
        and _optional_ok(line2[28:42], line2[42])
        and _ok(line2[0:10] + line2[13:20] + line2[21:43], line2[43])
    )


def td2_ok(line2: str) -> bool:
    return (
        _ok(line2[0:9], line2[9])
        and _ok(line2[13:19], line2[19])
        and _ok(line2[21:27], line2[27])
        and _ok(line2[0:10] + line2[13:20] + line2[21:35], line2[35])
    )


def td1_ok(line1: str, line2: str) -> bool:
    """A document number longer than 9 characters continues in the optional field (its check digit `<`)."""
    return (
        (line1[14] == "<" or _ok(line1[5:14], line1[14]))
        and _ok(line2[0:6], line2[6])
        and _ok(line2[8:14], line2[14])
        and _ok(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], line2[29])
    )


_TD3_1 = re.compile(r"P[A-Z<][A-Z<]{42}")
_TD3_2 = re.compile(r"[A-Z0-9<]{9}[0-9<][A-Z<]{3}\d{7}[MFX<]\d{7}[A-Z0-9<]{14}[0-9<]\d")
_TD2_1 = re.compile(r"[ACI][A-Z<][A-Z<]{34}")
_TD2_2 = re.compile(r"[A-Z0-9<]{9}[0-9<][A-Z<]{3}\d{7}[MFX<]\d{7}[A-Z0-9<]{7}\d")
_TD1_1 = re.compile(r"[ACI][A-Z<][A-Z<]{3}[A-Z0-9<]{9}[0-9<][A-Z0-9<]{15}")
_TD1_2 = re.compile(r"\d{7}[MFX<]\d{7}[A-Z<]{3}[A-Z0-9<]{11}\d")
_TD1_3 = re.compile(r"[A-Z<]{30}")
# Birth date, its check digit, sex, expiry and its check digit: in line 2 of every format.
_ANCHOR = rx(r"\d{7}[MFX<]\d{7}")
_MRZ_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
_NATION = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ<")
# Between lines: a line break (also as the escape `\n` of JSON held in a string), a space, or nothing.
_BREAKS = ("\r\n", "\\r\\n", "\n", "\\n", "\r")


def _line_before(text: str, end: int, length: int) -> int:
    """Where a line of `length` characters starts that ends, with its separator, at `end` (-1 if none)."""
    j = end
    while j > 0 and end - j < 8 and text[j - 1] in " \t":
        j -= 1
    for br in _BREAKS:
        if text.startswith(br, j - len(br)):
            j -= len(br)
            while j > 0 and text[j - 1] in " \t" and end - j < 24:
                j -= 1
            break
    return (
        j - length if j - length >= 0 and (j - length == 0 or text[j - length - 1] not in _MRZ_CHARS) else -1
    )


def _line_after(text: str, start: int, length: int) -> int:
    """Where a line of `length` characters ends that starts, after its separator, at `start` (-1 if none)."""
    j = start
    while j < len(text) and j - start < 8 and text[j] in " \t":
        j += 1
    for br in _BREAKS:
        if text.startswith(br, j):
            j += len(br)
            while j < len(text) and text[j] in " \t" and j - start < 24:
                j += 1
            break
    end = j + length
    return end if end <= len(text) and (end == len(text) or text[end] not in _MRZ_CHARS) else -1


def _alone(text: str, s: int, e: int) -> bool:
    return (
        s >= 0 and (s == 0 or text[s - 1] not in _MRZ_CHARS) and (e == len(text) or text[e] not in _MRZ_CHARS)
    )


def _two_line(text: str, a: int, first: re.Pattern[str], second: re.Pattern[str], n: int) -> Span | None:
    """A TD3 (n=44) or TD2 (n=36) zone whose line 2 has its birth date at `a`: both lines, or line 2 alone."""
    s2 = a - 13
    line2 = text[s2 : s2 + n]
    if s2 < 0 or second.fullmatch(line2) is None or not (td3_ok if n == 44 else td2_ok)(line2):
        return None
    s1 = _line_before(text, s2, n)
    if s1 >= 0 and first.fullmatch(text, s1, s1 + n) is not None:
        return s1, s2 + n, text[s1 : s2 + n]
    return (s2, s2 + n, line2) if _alone(text, s2, s2 + n) else None


def _td1(text: str, a: int) -> Span | None:
    line2 = text[a : a + 30]
    s1 = _line_before(text, a, 30)
    if _TD1_2.fullmatch(line2) is None or s1 < 0 or _TD1_1.fullmatch(text, s1, s1 + 30) is None:
        return None
    if not td1_ok(text[s1 : s1 + 30], line2):
        return None
    e3 = _line_after(text, a + 30, 30)
    end = e3 if e3 >= 0 and _TD1_3.fullmatch(text, e3 - 30, e3) else a + 30
    return s1, end, text[s1:end]


def _zones(text: str) -> Iterator[Span]:
    """Each machine-readable zone, found from line 2's birth-date block and checked outwards."""
    pos = 0
    while (m := _ANCHOR.search(text, pos)) is not None:
        a = m.start()
        found = None
        if (
            _NATION.issuperset(text[a - 3 : a]) and a >= 13
        ):  # line 2 of a passport or TD2 card: ...UTO7408122F
            found = _two_line(text, a, _TD3_1, _TD3_2, 44) or _two_line(text, a, _TD2_1, _TD2_2, 36)
        if found is None and _NATION.issuperset(text[a + 15 : a + 18]):  # of a TD1 card: 7408122F1204159UTO
            found = _td1(text, a)
        if found is not None:
            yield found
            pos = found[1]
        else:
            pos = a + 1


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="passport_mrz",
        group=PII,
        pattern=rx(rf"{_TD3_1.pattern}(?:\r?\n|\\n| |){_TD3_2.pattern}"),  # the common case of what it finds
        finder=_zones,
        trigger=_ANCHOR,
        placeholder_check=False,  # `<<<<` fillers
        priority=45,
    ),
)
