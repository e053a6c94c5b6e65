"""Dates as people write them (ISO, D/M/Y and M/D/Y, CJK, month names in 14 languages), parsed and checked as birth dates."""

from __future__ import annotations

import re
from datetime import date

from .normalize import fold
from .pii_words import alternation, folded

_MONTH_NAMES = (
    "january jan janvier janv enero ene gennaio gen janeiro januar jänner januari stycznia styczeń styczen"
    " ocak января январь",
    "february feb février fevrier févr fevr fév febrero febbraio fevereiro fev februar februari lutego luty"
    " şubat subat февраля февраль",
    "march mar märz maerz mär mrz mars marzo março marco maart mrt marts marca marzec mart марта март",
    "april apr avril avr abril abr aprile kwietnia kwiecień kwiecien nisan апреля апрель",
    "may mai mayo maggio mag maio mei maj maja mayıs mayis мая май",
    "june jun juin junio giugno giu junho juni czerwca czerwiec haziran июня июнь",
    "july jul juillet juil julio luglio lug julho juli lipca lipiec temmuz июля июль",
    "august aug août aout agosto ago augustus augusti sierpnia sierpień sierpien ağustos agustos августа август",
    "september sep sept septembre septiembre setiembre settembre set setembro września wrzesnia wrzesień eylül"
    " eylul сентября сентябрь",
    "october oct octobre octubre ottobre ott outubro out oktober okt października pazdziernika październik"
    " ekim октября октябрь",
    "november nov novembre noviembre novembro listopada listopad kasım kasim ноября ноябрь",
    "december dec décembre decembre déc diciembre dic dicembre dezembro dezember dez desember grudnia grudzień"
    " grudzien aralık aralik декабря декабрь",
)
MONTHS: dict[str, int] = {w: i + 1 for i, names in enumerate(_MONTH_NAMES) for w in folded(names.split())}
MONTH_RE = alternation(MONTHS)
_MONTH_FIND = re.compile(rf"(?<![^\W\d_])(?:{MONTH_RE})(?![^\W\d_])")

# A date. Loose on purpose: parse_date decides (a month name, the calendar, one separator). A month is any
# word here: the names of 14 languages in one alternation are tried one by one, at every position a date
# may start, and made a keyword flood (`born in a born in a ...`) cost seconds per 64 KiB.
_WORD = r"[^\W\d_]{3,12}"
_DAY_SUFFIX = r"(?:st|nd|rd|th|er|e|º|°|\.)?"
DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 1990-04-12, 1990/04/12
    r"|\d{4} ?[年년] ?\d{1,2} ?[月월] ?\d{1,2} ?[日일]?"  # 1990年4月12日, 1990년 4월 12일
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d\d)"  # 12/04/1990, 04-12-90, 12.04.1990
    r"|\d{1,2}\. \d{1,2}\. ?\d{4}"  # 12. 04. 1990
    rf"|\d{{1,2}}{_DAY_SUFFIX}(?: {{1,2}}(?:of|de) {{1,2}}| {{1,2}}|-){_WORD}\.?"  # 12 April, 12-Apr
    r"(?:,? {1,2}|-| {1,2}de {1,2}| {1,2}del {1,2})\d{4}"  # 1990, de 1990
    rf"|{_WORD}\.? {{1,2}}\d{{1,2}}(?:st|nd|rd|th)?,? {{1,2}}\d{{4}}"  # April 12, 1990
    r")(?!\d)"
)
_NUMBERS = re.compile(r"\d{1,12}+")
_ISO = re.compile(r"([12]\d{3})[-/.](\d\d)[-/.](\d\d)")
_SEPARATORS = re.compile(r"[-/.]")
_TIME = re.compile(r"[t ]\d\d:\d\d.{0,20}$")  # an ISO time after a date (`T00:00:00Z`)
_CJK = re.compile(r"[年년]")


def parse_date(value: str, today: date | None = None) -> date | None:
    """The calendar date `value` spells (the same forms as DATE; D/M/Y or M/D/Y, whichever is valid), or
    None. Two-digit years are read as the latest year not in the future."""
    today = today or date.today()
    m = _ISO.fullmatch(value)
    if m is not None:  # the common case first: 1990-04-12
        return (
            _valid(int(m.group(1)), int(m.group(2)), int(m.group(3)), today)
            if value[4] == value[-3]
            else None
        )
    low = _TIME.sub("", fold(value)[0].lower().strip())
    nums = [int(n) for n in _NUMBERS.findall(low)]
    name = _MONTH_FIND.search(low)
    if name is not None:
        if len(nums) != 2:
            return None
        day, year = nums if nums[1] > 31 else (nums[1], nums[0])
        return _valid(year, MONTHS[name.group()], day, today)
    if len(nums) == 1 and len(low) == 8 and low.isdigit():  # 19900412
        return _valid(int(low[:4]), int(low[4:6]), int(low[6:]), today)
    if len(nums) != 3:
        return None
    if _CJK.search(low):
        return _valid(nums[0], nums[1], nums[2], today)
    seps = _SEPARATORS.findall(low)
    if len(seps) != 2 or seps[0] != seps[1]:
        return None
    digits = _NUMBERS.findall(low)
    if len(digits[0]) == 4:
        return _valid(nums[0], nums[1], nums[2], today)
    if len(digits[2]) not in (2, 4):
        return None
    year = nums[2]
    if len(digits[2]) == 2:
        year += 2000 if 2000 + year <= today.year else 1900
    return _valid(year, nums[1], nums[0], today) or _valid(year, nums[0], nums[1], today)


def _valid(year: int, month: int, day: int, today: date) -> date | None:
    try:
        d = date(year, month, day)
    except ValueError:
        return None
    return d if date(1900, 1, 1) <= d <= today else None


def birth_date_ok(value: str) -> bool:
    """A real calendar date, not in the future, born after 1900."""
    return parse_date(value) is not None


def keyed_birth_date_ok(value: str) -> bool:
    """The value of a birth-date field: a date, possibly with a time of day (`1990-04-12T00:00:00Z`)."""
    return parse_date(value.strip()) is not None


def adult_birth_date_ok(value: str) -> bool:
    """A birth date at least ten years old: what a date without a birth word must be to count as one."""
    today = date.today()
    d = parse_date(value, today)
    return d is not None and d.year <= today.year - 10
