"""JSON bodies: every string (key or value) becomes a segment mapped to its bytes; paths are computed lazily."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from functools import partial

from .jsonpaths import PathIndex, spell
from .normalize import fold
from .offsets import MapBuilder, OffsetMap
from .segment import SEPARATOR, Group, Segment
from .shapes import DIGITS, has

# A string literal (content in group 1) and, for a key, the colon after it. Possessive: linear time.
STRING_RE = re.compile(r'"((?:[^"\\]++|\\.)*+)"(\s*+:)?', re.S)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})(?:\\u([dD][c-fC-F][0-9a-fA-F]{2}))?|(.))", re.S)
# Runs of 8+ `\\u` escapes with four hex digits each (not escaped backslashes: the run starts the string
# or follows a character that is not a backslash) are decoded at C speed into one map piece.
_U_RUN = re.compile(r"(?:(?<=[^\\])|^)(?:\\u[0-9a-fA-F]{4}){8,}+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBERS_BETWEEN = re.compile(r"\s*+(?:\[[\s\d,.eE+-]*+)?$")
_LONG_NUMBER = re.compile(r"(?<![\w.])-?\d{12,19}(?![\w.])")
_DOC_END = frozenset("}] \t\n\r")  # the last character of a string holding a JSON document
# No detector's pattern matches fewer characters (test_adversarial checks); only non-ASCII text can grow
# when folded.
MIN_TEXT = 5
# Strings shorter than this (the clean cache's minimum) are scanned in groups (segment.Group).
GROUP_MAX = 128
# An array string that may join a group whatever its neighbours: printable ASCII without escapes, shorter
# than GROUP_MAX, not ending in a character of _DOC_END (no nested document). Followed by a comma, it is
# an array element (an object's value follows its key's colon; a key is followed by a colon).
_ITEM = re.compile(r'"((?:[ !#-\[\]-~]{0,126}[!#-\[^-|~])?)"')
_RUN = re.compile(rf"(?:{_ITEM.pattern}\s*+,\s*+)++")
_RUN_MIN = 1024  # characters: a shorter run of array strings goes string by string
# In an LLM provider's own answer (keys=False) the values of these keys are the provider's identifiers and
# enums (ids, object types, model names, stop reasons), never text the model or a user wrote.
PROVIDER_FIELDS = frozenset(
    {
        "id", "object", "model", "system_fingerprint", "finish_reason", "role", "type", "service_tier",
        "stop_reason", "modelVersion", "finishReason", "responseId", "done_reason", "created_at",
    }
)  # fmt: skip


def json_strings(text: str, skip: list[int] | None = None) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, content, is_key) of each string literal of the valid JSON document `text`, in order: what
    STRING_RE.finditer finds (`end` is past the colon of a key), at memchr speed through long strings. In a
    valid document every quote outside a string opens one, so the next unescaped quote closes it. The
    caller may set skip[0] to a position outside any string: the strings before it are passed over."""
    find = text.find
    n = len(text)
    pos = 0
    while (start := find('"', pos if skip is None or skip[0] <= pos else skip[0])) != -1:
        end = find('"', start + 1)
        while end != -1 and text[end - 1] == "\\":  # escaped unless the backslashes before it pair up
            b = end - 1
            while text[b - 1] == "\\":
                b -= 1
            if (end - b) % 2 == 0:
                break
            end = find('"', end + 1)
        if end == -1:
            return  # an unterminated string: not a valid document after all
        pos = end + 1
        after = pos
        while after < n and text[after] in " \t\r\n":
            after += 1
        if after < n and text[after] == ":":
            yield start, after + 1, text[start + 1 : end], True
        else:
            yield start, pos, text[start + 1 : end], False


def unescape(raw: str) -> tuple[str, OffsetMap | None]:
    """JSON string content to text; each escape maps atomically to its source span."""
    if "\\" not in raw:
        return raw, None
    b = MapBuilder()
    pos = 0
    for run in _U_RUN.finditer(raw):
        decoded = run.group().encode("ascii").decode("unicode_escape")
        if _SURROGATE.search(decoded):
            continue  # pairs (and lone halves) are joined escape by escape below
        _unescape_into(b, raw, pos, run.start())
        b.copy(decoded, run.start(), 6)  # a run of `\u` + 4 hex digits: one piece, whatever its length
        pos = run.end()
    _unescape_into(b, raw, pos, len(raw))
    return b.build()


def _unescape_into(b: MapBuilder, raw: str, start: int, end: int) -> None:
    pos = start
    for m in _ESCAPE.finditer(raw, start, end):
        b.copy(raw[pos : m.start()], pos)
        if m.group(1):
            cp = int(m.group(1), 16)
            if m.group(2) and 0xD800 <= cp < 0xDC00:
                ch = chr(0x10000 + ((cp - 0xD800) << 10) + (int(m.group(2), 16) - 0xDC00))
            elif m.group(2):
                ch = chr(cp) + chr(int(m.group(2), 16))
            else:
                ch = chr(cp)
        else:
            ch = _SIMPLE.get(m.group(3), m.group(3))
        b.sub(m.start(), m.end() - m.start(), ch)
        pos = m.end()
    b.copy(raw[pos:end], pos)


class JsonDoc:
    """A JSON document's text; the path of each string token is computed on first request."""

    def __init__(self, text: str, prefix: Callable[[], str]) -> None:
        self.text = text
        self._prefix = prefix
        self._paths: PathIndex | None = None

    def nested_prefix_root(self) -> str:
        """The location of a value without a key of its own (an array element): the document itself."""
        return self._prefix() + "$"

    def nested_prefix(self, token_start: int) -> str:
        """The prefix of paths inside the JSON document held by the string at token_start."""
        return self.path_at(token_start) + ":"

    def path_at(self, token_start: int) -> str:
        if self._paths is None:
            self._paths = PathIndex(self.text)
        return self._prefix() + spell(self._paths.node(token_start))


def parse_ok(text: str) -> bool:
    """Is text a JSON document? (Nesting too deep for the parser counts as no: it is scanned as text.)"""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def json_segments(
    text: str,
    base: tuple[OffsetMap, ...],
    container: str,
    prefix: Callable[[], str],
    depth: int,
    out: list[Segment],
    keys: bool = True,
) -> None:
    """Append a segment per string of the JSON document `text` (already validated); recurse into strings
    that hold JSON documents themselves (tool-call arguments), at most `depth` levels. With keys=False the
    document's own keys get no segment (they still name the values for keyed detectors), nor do the values
    of its PROVIDER_FIELDS; nested documents always have both scanned."""
    doc = JsonDoc(text, prefix)
    path_at = doc.path_at
    pending = _Short(base, container, path_at)
    prev_key: str | None = None
    prev_end = -1
    skip = [0]  # json_strings resumes here: past a run of array strings taken whole
    tried = 0  # no run of array strings starts before this
    for tok, token_end, raw, colon in json_strings(text, skip):  # the string's content starts at tok + 1
        follows_key = prev_key is not None and (prev_end == tok or not text[prev_end:tok].strip())
        key = prev_key if follows_key else None
        # the common string (no escape, ASCII, no nested document) skips the calls that would change nothing
        un, umap = unescape(raw) if "\\" in raw else (raw, None)
        if colon:
            prev_key, prev_end = un, token_end
            if not keys:
                continue
        else:
            prev_key = None
            if not keys and key in PROVIDER_FIELDS:
                continue
            if key is None and tok >= tried and (run := _RUN.match(text, tok)) is not None:
                tried = run.end()  # no second try inside a short run: linear
                if run.end() - tok >= _RUN_MIN:
                    skip[0] = run.end()
                    pending.flush(out)
                    pending.run(text, tok, run.end(), out)
                    continue
        if len(un) < MIN_TEXT and un.isascii():
            continue  # `"a",` a million times: no segment for what no detector can match in
        nested = depth > 0 and un[-1] in _DOC_END
        if key is None and umap is None and not nested and len(un) < GROUP_MAX and un.isascii():
            pending.add(un, tok)
            continue
        pending.flush(out)
        shift = OffsetMap.shift(tok + 1, len(raw))
        inner = (umap, shift, *base) if umap else (shift, *base) if base else (shift,)
        if nested and _nested(un):
            json_segments(un, inner, container, partial(doc.nested_prefix, tok), depth - 1, out)
            continue
        folded, fmap = (un, None) if un.isascii() else fold(un)
        if len(folded) < MIN_TEXT:
            continue
        maps = (fmap, *inner) if fmap else inner
        # fields by position (text, maps, container, part, name, key, quote, detail, locate): keyword
        # arguments would cost a third of building the segment, made once per JSON string
        out.append(Segment(folded, maps, container, "body", "", key, False, "", partial(path_at, tok)))
    pending.flush(out)
    if has(text, DIGITS, b"0" * 12) and _LONG_NUMBER.search(text):  # `\d{12}`: cheap test first
        _numbers(text, base, container, doc, out)


class _Short:
    """Consecutive short ASCII strings without escapes or a field name, waiting to become one Group segment
    (one string alone: its own segment, as any other)."""

    __slots__ = ("texts", "toks", "base", "container", "path_at")

    def __init__(self, base: tuple[OffsetMap, ...], container: str, path_at: Callable[[int], str]) -> None:
        self.texts: list[str] = []
        self.toks: list[int] = []
        self.base = base
        self.container = container
        self.path_at = path_at

    def add(self, text: str, tok: int) -> None:
        self.texts.append(text)
        self.toks.append(tok)

    def flush(self, out: list[Segment]) -> None:
        if not self.texts:
            return
        if len(self.texts) == 1:
            out.append(self.member(self.texts, self.toks, 0))
        else:
            group = Group(self.texts, partial(self.member, self.texts, self.toks))
            out.append(Segment(SEPARATOR.join(self.texts), (), self.container, group=group))
        self.texts, self.toks = [], []

    def run(self, text: str, start: int, end: int, out: list[Segment]) -> None:
        """Segments for the array strings of text[start:end] (a match of _RUN), in one group: their texts
        read at C speed, their positions only when a member is asked for."""
        texts = [t for t in _ITEM.findall(text, start, end) if len(t) >= MIN_TEXT]
        if not texts:
            return
        toks: list[int] = []

        def member(j: int) -> Segment:
            if not toks:
                toks.extend(
                    m.start() for m in _ITEM.finditer(text, start, end) if m.end() - m.start() > MIN_TEXT + 1
                )
            return self.member(texts, toks, j)

        if len(texts) == 1:
            out.append(member(0))
        else:
            out.append(Segment(SEPARATOR.join(texts), (), self.container, group=Group(texts, member)))

    def member(self, texts: list[str], toks: list[int], j: int) -> Segment:
        """The segment json_segments gives the string: its text mapped to its bytes, its path on demand."""
        text, tok = texts[j], toks[j]
        maps = (OffsetMap.shift(tok + 1, len(text)), *self.base)
        return Segment(text, maps, self.container, "body", "", None, False, "", partial(self.path_at, tok))


def _nested(un: str) -> bool:
    """Does the string hold a JSON object or array (tool-call arguments)?"""
    stripped = un.strip()
    return len(stripped) > 1 and stripped[0] in "{[" and stripped[-1] in "}]" and parse_ok(un)


def _numbers(
    text: str, base: tuple[OffsetMap, ...], container: str, doc: JsonDoc, out: list[Segment]
) -> None:
    """Long integers outside strings (a card number sent as a JSON number). A replacement must be a JSON
    value, so these segments wrap `[REDACTED:<type>]` in quotes."""
    strings: list[tuple[int, int]] = []
    keys: list[tuple[int, int]] = []  # (end of `"key":`, start of the key token)
    for m in STRING_RE.finditer(text):
        strings.append(m.span())
        if m.group(2):
            keys.append((m.end(), m.start()))
    starts = [s for s, _ in strings]
    key_ends = [e for e, _ in keys]
    for m in _LONG_NUMBER.finditer(text):
        i = bisect_right(starts, m.start()) - 1
        if (i >= 0 and strings[i][1] > m.start()) or (m.start() and text[m.start() - 1] in ".eE"):
            continue  # inside a string, or the tail of a float
        k = bisect_right(key_ends, m.start()) - 1
        # the value of a key, or an element of an array of numbers that is the value of a key
        between = text[key_ends[k] : m.start()] if k >= 0 and m.start() - key_ends[k] < 256 else "x"
        token = keys[k][1] if _NUMBERS_BETWEEN.match(between) else None
        out.append(
            Segment(
                text=m.group(),
                maps=(OffsetMap.shift(m.start(), len(m.group())),) + base,
                container=container,
                wrap='"',
                locate=partial(doc.path_at, token) if token is not None else partial(doc.nested_prefix_root),
            )
        )
