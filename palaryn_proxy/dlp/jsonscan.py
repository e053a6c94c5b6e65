"""JSON bodies: every string (key or value) becomes a segment mapped to its bytes; paths are computed lazily."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from .normalize import fold
from .offsets import MapBuilder, OffsetMap
from .segment import Segment
from .shapes import DIGITS, has

# A string literal (content in group 1) and, for a key, the colon after it. Possessive: linear time.
STRING_RE = re.compile(r'"((?:[^"\\]++|\\.)*+)"(\s*+:)?', re.S)
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{},]', re.S)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})(?:\\u([dD][c-fC-F][0-9a-fA-F]{2}))?|(.))", re.S)
# Runs of 8+ `\\uXXXX` escapes (not escaped backslashes: the run starts the string or follows a character
# that is not a backslash) are decoded at C speed into one map piece.
_U_RUN = re.compile(r"(?:(?<=[^\\])|^)(?:\\u[0-9a-fA-F]{4}){8,}+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBERS_BETWEEN = re.compile(r"\s*+(?:\[[\s\d,.eE+-]*+)?$")
_LONG_NUMBER = re.compile(r"(?<![\w.])-?\d{12,19}(?![\w.])")
_DOC_END = frozenset("}] \t\n\r")  # the last character of a string holding a JSON document
# No detector's pattern matches fewer characters (test_adversarial checks); only non-ASCII text can grow
# when folded.
MIN_TEXT = 5
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*+$")
# In an LLM provider's own answer (keys=False) the values of these keys are the provider's identifiers and
# enums (ids, object types, model names, stop reasons), never text the model or a user wrote.
PROVIDER_FIELDS = frozenset(
    {
        "id", "object", "model", "system_fingerprint", "finish_reason", "role", "type", "service_tier",
        "stop_reason", "modelVersion", "finishReason", "responseId", "done_reason", "created_at",
    }
)  # fmt: skip


def json_strings(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, content, is_key) of each string literal of the valid JSON document `text`, in order: what
    STRING_RE.finditer finds (`end` is past the colon of a key), at memchr speed through long strings. In a
    valid document every quote outside a string opens one, so the next unescaped quote closes it."""
    find = text.find
    n = len(text)
    pos = 0
    while (start := find('"', pos)) != -1:
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
        b.copy(decoded, run.start(), 6)  # a run of `\uXXXX`: one piece, whatever its length
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


def _fmt_key(key: str) -> str:
    return f".{key}" if _IDENT.match(key) else f"[{json.dumps(key)}]"


# A path as a chain of steps from the leaf up: (parent, in an array?, index or key). Each string token and
# container gets one node in O(1); a path is spelled out only when a finding asks for it.
_Node = tuple["_Node | None", bool, object]
_MAX_STEPS = 64  # a deeper path keeps its last steps: `$…[0][0].key`


def _path(node: _Node | None) -> str:
    steps: list[str] = []
    while node is not None and len(steps) < _MAX_STEPS:
        node, in_array, step = node
        steps.append(f"[{step}]" if in_array else _fmt_key(str(step)))
    return ("$…" if node is not None else "$") + "".join(reversed(steps))


@dataclass(slots=True)
class _Frame:
    """An open container while indexing: an array's current index, or an object's current key (None before
    the first), and the node of the container itself."""

    in_array: bool
    below: _Node | None
    index: int = 0
    key: str | None = None


def _node(stack: list[_Frame]) -> _Node | None:
    """The node of a path through every frame of the stack."""
    if not stack:
        return None
    top = stack[-1]
    step = top.index if top.in_array else top.key
    return top.below if step is None else (top.below, top.in_array, step)


class JsonDoc:
    """A JSON document's text; the path of each string token is computed on first request."""

    def __init__(self, text: str, prefix: Callable[[], str]) -> None:
        self.text = text
        self._prefix = prefix
        self._nodes: dict[int, _Node | None] | None = None

    def nested_prefix_root(self) -> str:
        """The location of a value without a key of its own (an array element): the document itself."""
        return self._prefix() + "$"

    def nested_prefix(self, token_start: int) -> str:
        """The prefix of paths inside the JSON document held by the string at token_start."""
        return self.path_at(token_start) + ":"

    def path_at(self, token_start: int) -> str:
        if self._nodes is None:
            self._nodes = self._index()
        return self._prefix() + _path(self._nodes.get(token_start))

    def _index(self) -> dict[int, _Node | None]:
        nodes: dict[int, _Node | None] = {}
        stack: list[_Frame] = []
        expect_key = False
        for m in _TOKEN.finditer(self.text):
            tok = m.group()
            if tok == "{":
                stack.append(_Frame(False, _node(stack)))
                expect_key = True
            elif tok == "[":
                stack.append(_Frame(True, _node(stack)))
            elif tok in "}]":
                if stack:
                    stack.pop()
                expect_key = False
            elif tok == ",":
                if stack and stack[-1].in_array:
                    stack[-1].index += 1
                else:
                    expect_key = True
            else:
                if expect_key and stack:
                    stack[-1].key = unescape(tok[1:-1])[0]
                    expect_key = False
                nodes[m.start()] = _node(stack)
        return nodes


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
    prev_key: str | None = None
    prev_end = -1
    for tok, token_end, raw, colon in json_strings(text):  # the string's content starts at tok + 1
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
        if len(un) < MIN_TEXT and un.isascii():
            continue  # `"a",` a million times: no segment for what no detector can match in
        shift = OffsetMap.shift(tok + 1, len(raw))
        inner = (umap, shift, *base) if umap else (shift, *base) if base else (shift,)
        if depth > 0 and un and un[-1] in _DOC_END and _nested(un):
            json_segments(un, inner, container, partial(doc.nested_prefix, tok), depth - 1, out)
            continue
        folded, fmap = (un, None) if un.isascii() else fold(un)
        if len(folded) < MIN_TEXT:
            continue
        maps = (fmap, *inner) if fmap else inner
        # fields by position (text, maps, container, part, name, key, quote, detail, locate): keyword
        # arguments would cost a third of building the segment, made once per JSON string
        out.append(Segment(folded, maps, container, "body", "", key, False, "", partial(path_at, tok)))
    if has(text, DIGITS, b"0" * 12) and _LONG_NUMBER.search(text):  # `\d{12}`: cheap test first
        _numbers(text, base, container, doc, out)


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
