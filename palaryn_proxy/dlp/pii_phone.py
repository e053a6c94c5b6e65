"""Phone numbers: international (+CC, 00CC), US national formats, the large EU countries' national formats, and
numbers after a phone word or in a phone field."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .detector import PII, Detector, Span, rx
from .pii_words import alternation, digit_near, folded, key_words, whole_word
from .shapes import MARK, NUMBERISH, NUMBERISH_SLASH

NUMBER_RUN = (NUMBERISH, MARK * 7)  # a gate: the text has a number run (TextView.number_runs)
# The gate of a number after a phone word (_NUMBER_AHEAD holds 7+ of these characters): answered by the
# prefilter's one Hyperscan pass, it spares clean prose the search for numbers (phone words are common).
NUMBER_AHEAD = (NUMBERISH_SLASH, MARK * 7)
DIGITS2 = rx(r"\d\d")  # the trigger of digit-shaped PII (one search serves them all)
# An extension belongs to the number (`x123`, ` ext. 45`); then no further digit group may follow (IBANs,
# card numbers and tables of numbers are not phone numbers).
_EXT = r"(?:\s{0,2}(?:[xX]|[eE][xX][tT]\.?)\s{0,2}\d{1,6})?"
# A glued extension (`x123`) may follow; the number is redacted. (Only `x` is visible: a number-run search
# ends one character after the run.)
_END = r"(?!(?![xX])[\w-]|\.\d|[ -]\d)"
_NUMBER_BEFORE = rx(r"[\w+$./-]\Z|\d[ -]\Z")  # not the tail of a longer number, amount or path
_EXT_RE = re.compile(r"\s{0,2}(?:[xX]|[eE][xX][tT]\.?)\s{0,2}\d{1,6}$")
_NANP = re.compile(r"(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}")
_NANP_PREFIX = re.compile(r"(?:00)?1[ .-]?(?=[(\d])")
_DATE_INSIDE = re.compile(r"\d{1,4}[-./]\d{1,2}[-./]\d{2,4}(?!\d)")
_GROUPS = re.compile(r"[-./ ()]{1,4}")


def _dated(main: str) -> bool:
    """A date, or a date and an hour (`01-02-2024 10`); not a number in 5 groups (`06-12-34-56-78`)."""
    return len(_GROUPS.split(main.strip("()"))) <= 4 and _DATE_INSIDE.search(main) is not None


def _main_part(value: str) -> str:
    """The number without its extension."""
    if "x" not in value and "X" not in value:
        return value
    m = _EXT_RE.search(value)
    return value[: m.start()] if m else value


def nanp_digits_ok(nanp: str) -> bool:
    """10 NANP digits: an area code 2-9 (not N11: 211 ... 911) and an exchange that does not start with 0.
    Fictional-looking numbers (555-0123, (555) 123-4567) count: agents write and test with them."""
    return nanp[0] not in "01" and nanp[1:3] != "11" and nanp[3] != "0"


def _trunk_length_ok(value: str, digits: int) -> bool:
    """A national number after a trunk 0 has at most 11 digits; 12 only as an area code and one group
    (DE `0151 23456789`, `03322 1234567`) or a German mobile (`0151 2345 6789`), not `0123-4567-8901`."""
    if digits <= 11:
        return True
    groups = _GROUPS.split(value.strip("()"))
    return digits == 12 and (len(groups) <= 2 or value.startswith(("015", "016", "017")))


def phone_ok(value: str) -> bool:
    """8-15 digits, 4 of them different, one separator at a time; US (+1 or 10 digits) by the NANP rules."""
    value = _main_part(value)
    digits = "".join(filter(str.isdigit, value))
    if not 8 <= len(digits) <= 15 or len(set(digits)) < 4:
        return False
    if "  " in value or "--" in value or ".." in value or value.count("(") != value.count(")"):
        return False
    if value.startswith("0") and not value.startswith("00") and not _trunk_length_ok(value, len(digits)):
        return False
    if value.startswith("+1") or len(digits) == 10 and not value.startswith(("+", "0")):
        return nanp_digits_ok(digits[-10:])
    return True


def nanp_ok(value: str) -> bool:
    """(415) 555-2671, 415-555-2671, 415.555.2671, 1-415-555-2671, 001-415-555-2671 x12 (one separator
    throughout; not `252.227-7013`)."""
    value = _main_part(value)
    prefix = _NANP_PREFIX.match(value)
    rest = value[prefix.end() :] if prefix else value
    if _NANP.fullmatch(rest) is None or not phone_ok(rest):
        return False
    return rest.startswith("(") or rest[3] == rest[7]


def international_ok(value: str) -> bool:
    """`+CC ...`, or `00CC` followed by a separator (`0044 20 7946 0958`, `001-415-555-2671`; not `0012345678`)."""
    if value.startswith("00"):
        cc = value[2:5]
        if not any(c in " .-" for c in cc) or "(" in value[:5]:
            return False
    return phone_ok(value)


def national_ok(value: str) -> bool:
    """A national number with a trunk 0 (UK, DE, FR, IT, NL...): 9-12 digits, not a date."""
    main = _main_part(value)
    digits = sum(c.isdigit() for c in main)
    return 9 <= digits <= 12 and not _dated(main) and phone_ok(value)


_WORDS = folded(
    "phone|phones|telephone|tel|tél|tel.|téléphone|telefon|telefonu|telefono|teléfono|telefone|telefoon|telefonnummer"
    "|rufnummer|handy|handynummer|mobil|mobilnummer|mobile|móvil|movil|cellulare|cell|cellphone|celular|portable"
    "|fax|whatsapp|call|sms|dial|tlf|komórka|komorka|puhelin|телефон|тел".split("|")
) + ("電話", "电话", "手机", "携帯", "전화")
_CONTEXT_BEFORE = rx(rf"(?<![^\W_])(?:{alternation(_WORDS)})(?![^\W_])")


def context_before(text: str, start: int, reach: int = 48) -> bool:
    """Is there a phone word in the `reach` characters before start?"""
    return _CONTEXT_BEFORE.search(text[max(0, start - reach) : start].lower()) is not None


def _spaced_ok(text: str, m: re.Match[str]) -> bool:
    """A number grouped like an amount (`912 345 678`) is a phone number only after a phone word; one
    separator throughout."""
    value = m.group()
    return (
        len({c for c in value if not c.isdigit()}) == 1
        and context_before(text, m.start())
        and phone_ok(value)
    )


_ZIP4 = re.compile(r"\d{5}-\d{4}")


def _trunk_ok(text: str, m: re.Match[str]) -> bool:
    """A trunk-0 number; not `01-02-2024 10` of the timestamp `01-02-2024 10:30`, nor the ZIP+4 code
    `02111-1307` of a New England address."""
    e = m.end()
    if (e < len(text) and text[e] == ":") or _ZIP4.fullmatch(m.group()):
        return False
    return national_ok(m.group())


_BRANCHES: dict[str, Callable[[str, re.Match[str]], bool]] = {
    "trunk": _trunk_ok,
    "dots": lambda text, m: phone_ok(m.group()),
    "us": lambda text, m: nanp_ok(m.group()),
    "grouped": lambda text, m: phone_ok(m.group()),
    "spaced": _spaced_ok,
}


def _national_ok(text: str, m: re.Match[str]) -> bool:
    """The check of the format that matched (one pattern for all: each number run is searched once)."""
    return m.lastgroup is not None and _BRANCHES[m.lastgroup](text, m)


# National formats, as one pattern. A trunk 0 first (no US area code starts with 0): UK 020 7946 0958 /
# 07700 900123, DE 030 12345678 / 0151 23456789, IT 06 1234 5678, NL 020 123 4567 / 06 12345678,
# FR 01 23 45 67 89, (030) 12345678; FR 06.12.34.56.78; US (415) 555-2671, 415-555-2671, 415.555.2671,
# 415 555 2671, 1-415-555-2671, 1 (415) 555-2671; ES 612 34 56 78, PL / ES 22 123 45 67 (groupings no
# amount has); ES 912 345 678, PL 512 345 678, IT 347 1234567 (grouped like an amount: after a phone word).
_NATIONAL = (
    r"(?:(?P<trunk>(?:\(0\d{1,4}\) ?|0\d{1,4}[ -])\d{2,8}(?:[ -]\d{2,8}){0,3})"
    r"|(?P<dots>0[1-9](?:\.\d\d){4})"
    r"|(?P<us>(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4})"
    r"|(?P<grouped>[6-9]\d\d \d\d \d\d \d\d|[1-9]\d \d{3} \d\d \d\d)"
    r"|(?P<spaced>[1-9]\d\d[ -]\d{3}[ -]\d{3}|3\d\d \d{6,7}))"
)


# After a phone word: punctuation, markup, and small words (`number`, `is`, `me at`, `us on`, `(mobile)`).
_GAP = (
    r"(?:[\s:=#*|\"'>\-–—.,/()\[\]]|</?[a-z][^<>\n]{0,40}>"
    rf"|(?:number|numbers|nummer|numéro|numero|número|numer|номер|{alternation(_WORDS)})(?![^\W\d_])"
    r"|(?<![^\W_])[^\W\d_]{1,3}(?![^\W_])){0,10}"
)
_NUMBER = rf"(?P<v>\+?\(?\d[\d ().\-/]{{5,20}}\d{_EXT})(?![\w-]|\.\d|[ -]\d|:\d)"
_WORD_RE = rx(alternation(_WORDS))
_TAIL = rx(_GAP + _NUMBER, re.IGNORECASE)
_VERSION = re.compile(r"^\d{1,3}(?:\.\d{1,4}){2,8}$")
_YEARS = re.compile(r"(?:19|20)\d\d ?[-/] ?(?:19|20)\d\d")  # `2017-2022`, a range of years


def loose_ok(value: str) -> bool:
    """A number a phone word or field names: 7-15 digits, not a date, time or version, separators sane."""
    main = _main_part(value).strip()
    digits = "".join(filter(str.isdigit, main))
    if not 7 <= len(digits) <= 15 or len(set(digits)) < 3:
        return False
    if "  " in main or "--" in main or ".." in main or "//" in main or main.count("(") != main.count(")"):
        return False
    if _dated(main) or _VERSION.match(main) or _YEARS.fullmatch(main):
        return False
    if sum(len(g) == 1 for g in _GROUPS.split(main)) > 2:
        return False
    if (len(digits) == 10 and main[0] not in "+0") or (len(digits) == 11 and main.startswith(("+1", "1"))):
        return nanp_digits_ok(digits[-10:])
    return True


def _in_context(text: str) -> Iterator[Span]:
    """Each number just after a phone word (`call 4155552671`, `Tel.: 030 1234567`, `mobile: 0612345678`)."""
    low = text.lower()
    if len(low) != len(text):
        low = text
    for ws, we in _before_numbers(text):
        yield from _words_then_number(text, low, ws, we)


# A phone word's number starts within this many characters of it (the longest `_GAP`: ten tags of 44).
_REACH = 480
_NUMBER_AHEAD = re.compile(r"\d[\d ().\-/]{5,20}\d")


def _before_numbers(text: str) -> list[tuple[int, int]]:
    """Merged windows ending where a number of 7+ characters starts: the only places a phone word can
    stand (words are common in prose, numbers much less so: the word search runs in these windows only)."""
    out: list[tuple[int, int]] = []
    for m in _NUMBER_AHEAD.finditer(text):
        s, e = max(0, m.start() - _REACH), m.start() + 1
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _words_then_number(text: str, low: str, ws: int, we: int) -> Iterator[Span]:
    for m in _WORD_RE.finditer(low, ws, we):
        e = m.end()
        if not whole_word(text, m.start(), e):
            continue  # `hotel`, `recall`, `telemetry`, `callback`
        if not digit_near(text, m.end()):
            continue
        tail = _TAIL.match(low, e)
        if tail is not None:
            vs, ve = tail.span("v")
            yield vs, ve, text[vs:ve]


_PHONE_KEYS = frozenset(
    "phone phones telephone tel telefon telefono teléfono telefone telefoon mobile mobil móvil movil cell"
    " cellphone celular cellulare handy fax whatsapp msisdn sms landline tlf".split()
)
_NOT_A_NUMBER = frozenset(
    "verified verify confirmed type kind country code prefix format label hint placeholder required valid"
    " enabled disabled visible public optin consent ext extension id".split()
)


_NUMBER_WORDS = ("nummer", "number", "nr", "no", "num")


def phone_key_ok(name: str) -> bool:
    """`phone`, `phone_number`, `mobilePhone`, `tel`, `Telefonnummer`, `contact.cell`; not `phone_verified`,
    `telemetry`."""
    words = key_words(name)
    return any(_phone_word(w) for w in words) and not any(w in _NOT_A_NUMBER for w in words)


def _phone_word(word: str) -> bool:
    """`phone`, or one with `number` glued on (`telefonnummer`, `handynr`)."""
    if word in _PHONE_KEYS:
        return True
    suffix = next((s for s in _NUMBER_WORDS if word.endswith(s)), "")
    return bool(suffix) and word[: -len(suffix)] in _PHONE_KEYS


DETECTORS: tuple[Detector, ...] = (
    Detector(  # international: +44 20 7946 0958, +1 (415) 555-2671, +4915123456789, 0044 20 7946 0958
        type="phone",
        group=PII,
        pattern=rx(rf"((?:\+|00)[1-9][\d ().-]{{6,20}}\d){_END}"),
        in_numbers=True,
        gate=NUMBER_RUN,
        not_after=_NUMBER_BEFORE,
        trigger=DIGITS2,
        value_group=1,
        validate=international_ok,
        priority=15,
    ),
    Detector(
        type="phone",
        group=PII,
        pattern=rx(rf"{_NATIONAL}{_END}"),
        in_numbers=True,
        gate=NUMBER_RUN,
        not_after=_NUMBER_BEFORE,
        trigger=DIGITS2,
        value_group=0,
        match_filter=_national_ok,
        priority=15,
    ),
    Detector(  # DE 030/12345678, 0151/23456789, +49 30/1234567 (a slash breaks number runs)
        type="phone",
        group=PII,
        pattern=rx(rf"((?:\+49 ?|0)\d{{2,4}} ?/ ?\d{{3,8}}(?:[ -]\d{{1,5}})?){_END}"),
        not_after=_NUMBER_BEFORE,
        trigger=DIGITS2,
        value_group=1,
        validate=national_ok,
        priority=15,
    ),
    Detector(
        type="phone",
        group=PII,
        pattern=rx(rf"(?:{alternation(_WORDS)}){_GAP}{_NUMBER}", re.IGNORECASE),  # what the finder finds
        finder=_in_context,
        ikeywords=_WORDS,
        gate=NUMBER_AHEAD,
        validate=loose_ok,
        priority=15,
    ),
    Detector(
        type="phone",
        group=PII,
        pattern=rx(rf"^\s{{0,3}}(\+?\(?\d[\d ().\-/]{{5,22}}\d{_EXT})\s{{0,3}}$"),
        key=rx(r"(?i)phone|tel|mobil|m[óo]vil|cell|celular|handy|fax|whatsapp|msisdn|sms|landline|tlf"),
        key_filter=phone_key_ok,
        value_group=1,
        validate=loose_ok,
        priority=15,
    ),
)
