"""Personal data in table rows (CSV, TSV, `|` tables): the columns a header row names, and the birth dates and passport
numbers of a headerless row that holds other personal data."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from .detector import PII, Detector, Span, rx
from .pii_birth import dob_key_ok
from .pii_dates import adult_birth_date_ok, keyed_birth_date_ok
from .pii_passport import keyed_passport_ok, passport_field, passport_ok
from .pii_phone import loose_ok, phone_key_ok, phone_ok
from .pii_ssn import keyed_ssn_ok, ssn_key_ok
from .pii_words import folded

_DELIMITERS = ",;\t|"
_MAX_LINE = 4096  # a longer line is not a record
_NAME = re.compile(r"[^\W\d_][\w .()/#-]{0,39}")  # a column name: starts with a letter, short


@dataclass(frozen=True, slots=True)
class Table:
    """A block of consecutive lines with the same delimiter and number of fields; `rows` hold the field
    spans of each data row, `header` the column names when the first line names them."""

    start: int
    end: int
    header: tuple[str, ...] | None
    rows: tuple[tuple[tuple[int, int], ...], ...]
    row_starts: tuple[int, ...]  # where each row starts: bisect finds a position's row


def _fields(text: str, s: int, e: int, delim: str) -> list[tuple[int, int]]:
    """The spans of a line's fields, quotes (`"a, b"`) and surrounding spaces left out."""
    out = []
    i = s
    if delim == "|":  # `| a | b |`: the outer bars open and close the row
        line = text[s:e].strip()
        if line.startswith("|") and line.endswith("|") and len(line) > 1:
            i = text.index("|", s) + 1
            e = text.rindex("|", s, e)
    while i <= e:
        while i < e and text[i] in " \t" and delim != "\t" or i < e and text[i] == " ":
            i += 1
        if i < e and text[i] == '"':
            j = i + 1
            while True:
                j = text.find('"', j, e)
                if j == -1 or not text.startswith('""', j):
                    break
                j += 2
            close = e if j == -1 else j
            out.append((i + 1, close))
            k = text.find(delim, close, e)
        else:
            k = text.find(delim, i, e)
            end = e if k == -1 else k
            while end > i and text[end - 1] in " \r":
                end -= 1
            out.append((i, end))
        if k == -1:
            break
        i = k + 1
    return out


def _delimiter(line: str) -> str | None:
    counts = [(line.count(d), d) for d in _DELIMITERS]
    n, d = max(counts)
    return d if n >= 2 else None


def _is_header(text: str, fields: tuple[tuple[int, int], ...]) -> bool:
    return all(_NAME.fullmatch(text, s, e) is not None for s, e in fields)


@lru_cache(maxsize=2)  # the record detectors of one scan share one parse of the text
def tables(text: str) -> tuple[Table, ...]:
    """The tables of a text: runs of lines with one delimiter and the same number of fields (at least 3)."""
    out: list[Table] = []
    block: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
    shape: tuple[str, int] | None = None
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        end = n if nl == -1 else nl
        line = text[pos:end]
        delim = _delimiter(line) if 0 < len(line) <= _MAX_LINE else None
        fields = tuple(_fields(text, pos, end, delim)) if delim else ()
        here = (delim, len(fields)) if delim and len(fields) >= 3 else None
        separator = delim == "|" and not line.strip(" |:-")  # `|---|:--:|` under a header
        if not separator and (here is None or here != shape):
            _close(text, block, out)
            block = []
        if here is not None and not separator:
            block.append((pos, end, fields))
        shape = here if here is not None or separator else None
        if nl == -1:
            break
        pos = nl + 1
    _close(text, block, out)
    return tuple(out)


def _close(text: str, block: list[tuple[int, int, tuple[tuple[int, int], ...]]], out: list[Table]) -> None:
    if not block:
        return
    first = block[0][2]
    header = tuple(text[s:e] for s, e in first) if len(block) > 1 and _is_header(text, first) else None
    rows = block[1:] if header is not None else block
    out.append(
        Table(rows[0][0], rows[-1][1], header, tuple(f for _, _, f in rows), tuple(s for s, _, _ in rows))
    )


def _column_values(text: str, named: Callable[[str], bool]) -> Iterator[Span]:
    """Every value of a column whose header name `named` accepts."""
    for t in tables(text):
        if t.header is None:
            continue
        cols = [i for i, name in enumerate(t.header) if named(name)]
        for row in t.rows:
            for i in cols:
                if i < len(row) and row[i][1] > row[i][0]:
                    s, e = row[i]
                    yield s, e, text[s:e]


# -- headerless rows: a date or passport number among other personal data ---------------------------------

_SIGNALS = (
    re.compile(r"[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}\.[A-Za-z]{2,24}"),  # email
    re.compile(r"(?<![\d-])\d{3}-\d\d-\d{4}(?![\d-])"),  # SSN
    re.compile(r"\b[A-Z]{2}\d\d(?: ?[A-Z0-9]{4}){3,7}"),  # IBAN
)
_PHONE = re.compile(r"[+(]?\d[\d ().-]{7,18}\d")
_MAX_FIELD = 80  # a record's fields are short (an address, a name); prose and log lines are not


def _signals(line: str) -> int:
    """How many kinds of personal data (email, SSN, IBAN, phone number) the line holds: 0, 1 or 2 (enough)."""
    n = 0
    for sig in _SIGNALS:
        n += sig.search(line) is not None
        if n == 2:
            return n
    return n + any(not m.group()[:4].isdigit() and phone_ok(m.group()) for m in _PHONE.finditer(line))


_FIELD_EDGE = frozenset(_DELIMITERS + '\n\r"')


def _edged(text: str, s: int, e: int) -> bool:
    """A cheap first test: a delimiter, quote or line end on each side (spaces skipped)."""
    i, j = s, e
    while i > 0 and text[i - 1] == " ":
        i -= 1
    while j < len(text) and text[j] == " ":
        j += 1
    return (i == 0 or text[i - 1] in _FIELD_EDGE) and (j == len(text) or text[j] in _FIELD_EDGE)


@lru_cache(maxsize=2)
def _table_starts(text: str) -> tuple[int, ...]:
    return tuple(t.start for t in tables(text))


def _cell(text: str, s: int, e: int) -> tuple[Table, int, int] | None:
    """(table, row, column) of the field text[s:e] exactly, if it is one."""
    if not _edged(text, s, e):
        return None
    found = tables(text)
    i = bisect_right(_table_starts(text), s) - 1
    if i < 0 or s > found[i].end:
        return None
    t = found[i]
    r = bisect_right(t.row_starts, s) - 1
    col = next((k for k, span in enumerate(t.rows[r]) if span == (s, e)), None)
    return None if col is None else (t, r, col)


def _record_row(text: str, t: Table, r: int) -> str | None:
    """The row's text, if it looks like a record: 4+ fields, none long (prose and log lines are not)."""
    row = t.rows[r]
    if len(row) < 4 or any(fe - fs > _MAX_FIELD for fs, fe in row):
        return None
    return text[t.row_starts[r] : row[-1][1]]


def _in_record(named: Callable[[str], bool]) -> Callable[[str, re.Match[str]], bool]:
    named = lru_cache(maxsize=256)(named)  # a table asks about the same column names row after row

    def in_record(text: str, m: re.Match[str]) -> bool:
        """A whole field of a row: of a column whose header names it, or, without a header, of a row with
        two other kinds of personal data."""
        cell = _cell(text, *m.span(1))
        if cell is None:
            return False
        t, r, col = cell
        if t.header is not None:
            return col < len(t.header) and named(t.header[col])
        row = _record_row(text, t, r)
        return row is not None and _signals(row) >= 2

    return in_record


def _column(named: Callable[[str], bool], words: tuple[str, ...], check: Callable[[str], bool], kind: str,
            priority: int) -> Detector:  # fmt: skip
    """The values of the columns a header row names (`dob`, `passport_no`, `phone`, `ssn`). Found only in
    a text holding such a name: the names' stems are the prefilter's keywords."""

    named = lru_cache(maxsize=256)(named)

    def values(text: str) -> Iterator[Span]:
        return _column_values(text, named)

    return Detector(
        type=kind,
        group=PII,
        pattern=rx(r"[^\n,;\t|]{5,256}"),  # a field of a row: what the finder finds
        finder=values,
        ikeywords=words,
        validate=check,
        priority=priority,
    )


_DOB_WORDS = folded(
    "dob|bday|birth|geburt|gebdatum|naissance|nac|nascita|nascimento|geboorte|urodz|födel|fodel|fødsel|fodsel|doğum"
    "|dogum|syntym|рожд".split("|")
) + ("生年月日", "出生", "誕生", "생년월일")
_PASSPORT_WORDS = folded("pass|pasaport|paszport|paspoort|паспорт".split("|")) + (
    "护照",
    "護照",
    "パスポート",
    "여권",
)
_PHONE_WORDS = folded(
    "phone|tel|mobil|móvil|movil|cell|celular|handy|fax|whatsapp|msisdn|sms|landline|tlf".split("|")
)
_SSN_WORDS = ("ssn", "social", "national", "tax")

DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="date_of_birth",
        group=PII,
        pattern=rx(r"(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})(?![\w/.-])"),
        not_after=rx(r"[\w/.:-]\Z"),
        trigger=rx(r"\d\d"),
        value_group=1,
        validate=adult_birth_date_ok,
        match_filter=_in_record(dob_key_ok),
        placeholder_check=False,  # a date is no `your-key`
        priority=17,
    ),
    Detector(
        type="passport_number",
        group=PII,
        pattern=rx(r"([A-Z]{1,3}\d{6,8}|\d\d[A-Z]{2}\d{5})(?![\w-])"),
        not_after=rx(r"[\w-]\Z"),
        trigger=rx(r"\d\d"),
        value_group=1,
        validate=passport_ok,
        match_filter=_in_record(passport_field),
        priority=19,
    ),
    _column(dob_key_ok, _DOB_WORDS, keyed_birth_date_ok, "date_of_birth", 18),
    _column(passport_field, _PASSPORT_WORDS, keyed_passport_ok, "passport_number", 20),
    _column(phone_key_ok, _PHONE_WORDS, loose_ok, "phone", 15),
    _column(ssn_key_ok, _SSN_WORDS, keyed_ssn_ok, "us_ssn", 25),
)
