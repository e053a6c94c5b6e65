"""Passport numbers: a national passport number format just after a passport word, or as a passport field's value."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import PII, Detector, Span, rx
from .pii_dates import parse_date
from .pii_words import alternation, digit_near, folded, key_words, starts_word

KEYWORDS = folded(
    "passport|passports|reisepass|reisepasses|passnummer|pass-nr|passeport|passeports|pasaporte|pasaportes"
    "|passaporto|passaporti|passaporte|paszport|paszportu|paspoort|pasaport|паспорт|паспорта".split("|")
) + ("护照", "護照", "パスポート", "여권")

# Between the word and the number: punctuation, markup, `no.`, `number`, `nº`, `(US)`, short words (`is`,
# `de`, `du`, `the`); never a longer word (`passport expires 2031...`, `passport office 1234567`).
_GAP = (
    r"(?:[\s:=#*|\"'>\-–—.,/_()\[\]°º]|</?[a-z][^<>\n]{0,40}>"
    r"|(?:number|numbers|numéro|numero|número|nummer|numer|nomer|номер|card|book|details|document|serie|series"
    r"|серия|号码|号碼|番号|번호)(?![^\W\d_])"
    r"|(?<![^\W_])[^\W\d_]{1,3}(?![^\W_])){0,12}"
)
# Russian internal passports: series and number, `45 06 123456`
_VALUE = r"(?P<v>\d\d ?\d\d ?\d{6}|\d{3} \d{3} \d{3}|[A-Za-z0-9]{6,10})(?![A-Za-z0-9]|[-/][A-Za-z0-9])"
_WORDS = rx(alternation(KEYWORDS), re.IGNORECASE)
_TAIL = rx(_GAP + _VALUE, re.IGNORECASE)
_PATTERN = rx(rf"(?:{alternation(KEYWORDS)}){_GAP}{_VALUE}", re.IGNORECASE)  # what the finder finds

_FORMATS = re.compile(
    r"\d{8,10}"  # SE, NO (8); US, UK, DK (9); RU series and number (10)
    r"|[A-Z]{1,3}\d{6,8}"  # US, CN, KR, TR (1+8); IN (1+7); IT, PL, JP (2+7); CA, BR (2+6); ES (3+6)
    r"|\d\d[A-Z]{2}\d{5}"  # FR
    r"|[A-NP-Z]{2}[A-NP-Z0-9]{6}\d"  # NL
    r"|[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}"  # DE
)


def passport_ok(value: str) -> bool:
    """A passport number of one of the national formats, with 3+ different digits. Made-up looking numbers
    (`X12345678`) count: after a passport word they are what people and test data write."""
    v = value.replace(" ", "").upper()
    if _FORMATS.fullmatch(v) is None:
        return False
    digits = "".join(c for c in v if c.isdigit())
    if len(digits) < 3 or len(set(digits)) < 3:
        return False
    return not (v.isdigit() and len(v) == 8 and parse_date(v) is not None)  # 19900412 is a date


def _in_context(text: str) -> Iterator[Span]:
    """Each passport-number-shaped token just after a passport word (found as the words only: see
    pii_birth._dob_in_context)."""
    for m in _WORDS.finditer(text):
        s = m.start()
        if not starts_word(text, s):
            continue  # inside a word
        if not digit_near(text, m.end()):
            continue
        tail = _TAIL.match(text, m.end())
        if tail is not None:
            vs, ve = tail.span("v")
            yield vs, ve, text[vs:ve]


_NOT_A_NUMBER = frozenset(
    "expiry expires expiration exp issue issued issuing date country nationality photo image scan file url type"
    " status verified valid authority place name holder mrz front back copy upload required label hint"
    " format".split()
)
_KEY = rx(r"(?i)pass(?:port|nummer|[-_ ]?n[ro]\b)|reisepass|passeport|pasaporte|passaport|paszport|paspoort"
          r"|pasaport|паспорт|护照|護照|パスポート|여권")  # fmt: skip


def passport_key_ok(name: str) -> bool:
    """Of a name `_KEY` found: `passport`, `passport_number`, `passportNo`; not `passport_expiry`."""
    return not any(w in _NOT_A_NUMBER for w in key_words(name))


def passport_field(name: str) -> bool:
    """Does a field or column name say its value is a passport number?"""
    return _KEY.search(name) is not None and passport_key_ok(name)


_LOOSE = re.compile(r"[A-Z0-9]{6,12}")


def keyed_passport_ok(value: str) -> bool:
    """A passport field's value: a national format, or 6-12 letters and digits with 4+ digits (not a date)."""
    if passport_ok(value):
        return True
    v = value.replace(" ", "").replace("-", "").upper()
    digits = sum(c.isdigit() for c in v)
    return _LOOSE.fullmatch(v) is not None and digits >= 4 and len(set(v)) >= 4 and parse_date(value) is None


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="passport_number",
        group=PII,
        pattern=_PATTERN,
        finder=_in_context,
        ikeywords=KEYWORDS,
        validate=passport_ok,
        priority=20,
    ),
    Detector(
        type="passport_number",
        group=PII,
        pattern=rx(r"^\s{0,3}([A-Za-z0-9][A-Za-z0-9 -]{4,12}[A-Za-z0-9])\s{0,3}$"),
        key=_KEY,
        key_filter=passport_key_ok,
        value_group=1,
        validate=keyed_passport_ok,
        priority=20,
    ),
)
