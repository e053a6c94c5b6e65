"""Dates of birth: a date just after a birth word (14 languages), or the value of a birth-date field."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import PII, Detector, Span, rx
from .normalize import fold
from .pii_dates import DATE, birth_date_ok
from .pii_words import alternation, digit_near, folded, key_words, starts_word
from .wordscan import Words

# Field names: `Date of birth: ...`, `DOB ...`, `Geburtsdatum: ...`, `生年月日：...`
_LABELS = folded(
    "date of birth|date-of-birth|date_of_birth|dateofbirth|birth date|birth-date|birth_date|birthdate|birthday"
    "|dob|d.o.b|b.|geburtsdatum|geburtstag|geb.|date de naissance|date naissance|fecha de nacimiento"
    "|fecha nacimiento|fecha de nac|f. nac|f.nac|fec. nac|nacimiento|data di nascita|data nascita"
    "|data de nascimento|data nascimento|nascimento|geboortedatum|data urodzenia|födelsedatum|fodelsedatum"
    "|fødselsdato|fodselsdato|fødselsdag|syntymäaika|doğum tarihi|dogum tarihi|дата рождения".split("|")
)
_CJK_LABELS = (
    "生年月日",
    "出生日期",
    "出生年月日",
    "出生年月",
    "誕生日",
    "生日",
    "생년월일",
    "생일",
    "출생",
    "出生于",
    "出生於",
)
# Verbs, which may name a place first: `born in Lyon on ...`, `née à Lyon le ...`, `nato a Roma il ...`
_VERBS = folded(
    "born|née|né|nacido|nacida|nació|nato|nata|nascido|nascida|nasceu|geboren|urodzony|urodzona|urodził się"
    "|urodziła się|född|født|doğdu|doğumlu|родился|родилась".split("|")
)
KEYWORDS = (*_LABELS, *_CJK_LABELS, *_VERBS)

# Between the word and the date: punctuation, a format hint `(dd/mm/yyyy)`, markup, and a few small words
# (`is`, `on the`, `am`, `le`, `el`, `il`, `em`, `op`, `den`, `dnia`), never other words or digits.
_GAP = (
    r"(?:[\s:=#*|\"'>\-–—.,/]|\([^()\n\d]{1,24}\)|</?[a-z][^<>\n]{0,40}>"
    r"|(?<![^\W_])(?:is|was|ist|war|est|es|era|fue|è|é|er|är|jest|on|am|le|el|il|em|op|den|der|dnia|de|the|r\."
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)(?![^\W_])){0,10}"
)
_PLACE = r"(?:\s{1,3}(?:in|at|à|a|au|en|em|no|na|w|we|i|te|в|во)\s{1,3}[^\d\n,;:()<>]{1,30}?,?)?"
_LABEL_TAIL = rx(rf"{_GAP}(?P<v>{DATE})", re.IGNORECASE)
_VERB_TAIL = rx(rf"{_PLACE}{_GAP}(?P<v>{DATE})", re.IGNORECASE)
_WORDS = Words(KEYWORDS)
_VERB_SET = frozenset(_VERBS)
_PATTERN = rx(
    rf"(?:{alternation(KEYWORDS)}){_PLACE}{_GAP}(?P<v>{DATE})", re.IGNORECASE
)  # what the finder finds


def _dob_in_context(text: str) -> Iterator[Span]:
    """Each date just after a birth word. A finder, not one pattern: Hyperscan looks for the words only
    (the month names of every language in one expression take minutes to compile)."""
    low = text.lower()
    if len(low) != len(text):  # a character whose lower case is longer (`İ`): the patterns ignore case
        low = text
    for s, e in _WORDS.spans(low):
        if not starts_word(text, s):
            continue  # inside a word: `adobe`, `reborn`
        if text.startswith(("NATO", "NATA"), s):
            continue  # the alliance, not `nato il`
        if not digit_near(text, e):
            continue
        tail = (_VERB_TAIL if low[s:e].lower() in _VERB_SET else _LABEL_TAIL).match(low, e)
        if tail is not None:
            vs, ve = tail.span("v")
            yield vs, ve, text[vs:ve]


_KEY_NAMES = tuple(
    n.replace(" ", "")
    for n in folded(
        "dateofbirth|birthdate|birthday|bday|birthdt|dtofbirth|geburtsdatum|geburtstag|gebdatum|fechadenacimiento"
        "|fechanacimiento|fechanac|datedenaissance|datenaissance|datadinascita|datanascita|datadenascimento"
        "|datanascimento|geboortedatum|dataurodzenia|födelsedatum|fodelsedatum|fødselsdato|fodselsdato"
        "|doğumtarihi|dogumtarihi|syntymäaika|датарождения|生年月日|出生日期|出生年月日|誕生日|생년월일".split(
            "|"
        )
    )
)
_NOT_A_DATE = frozenset(
    "place city country location town state verified verify format required label placeholder hint min max"
    " type ort lieu lugar luogo plaats miejsce stadt pays land year month age".split()
)


def dob_key_ok(name: str) -> bool:
    """`dob`, `date_of_birth`, `birthDate`, `patient.dob`, `fecha_nacimiento`; not `place_of_birth`,
    `birth_country`, `dob_verified`, `adobe_version`."""
    words = key_words(name)
    if any(w in _NOT_A_DATE for w in words):
        return False
    joined = fold("".join(words))[0].lower()
    return "dob" in words or any(n in joined for n in _KEY_NAMES)


_KEY = rx(
    r"(?i)dob|birth|geburt|naci|naiss|nasc|geboorte|urodz|f[öo]del|f[øo]dsel|do[ğg]um|syntym|рожд|生年月日"
    r"|出生|誕生|생년월일"
)
_TIME = r"(?:[t ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:z|[+-]\d\d:?\d\d)?)?"

DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="date_of_birth",
        group=PII,
        pattern=_PATTERN,
        finder=_dob_in_context,
        ikeywords=KEYWORDS,
        validate=birth_date_ok,
        priority=18,
    ),
    Detector(
        type="date_of_birth",
        group=PII,
        pattern=rx(rf"^\s{{0,3}}((?:{DATE}|\d{{8}}){_TIME})\s{{0,3}}$"),
        lower=True,
        key=_KEY,
        key_filter=dob_key_ok,
        value_group=1,
        validate=birth_date_ok,
        priority=18,
    ),
)
