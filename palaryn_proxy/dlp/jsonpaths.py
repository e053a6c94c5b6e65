"""JSONPath-like locations (`$.messages[0].content`) of the strings of a JSON document, spelled out on demand."""

from __future__ import annotations

import json
import re
from bisect import bisect_right

# A path as a chain of steps from the leaf up: (parent, in an array?, index or key).
Node = tuple["Node | None", bool, object]
_MAX_STEPS = 64  # a deeper path keeps its last steps: `$…[0][0].key`
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*+$")
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.S)
# From where the last structural token ended: anything but a bracket or a key (value strings, numbers,
# commas, colons, space) at C speed, then the next key (group 1) or bracket (group 2). Anchored at each
# token's end (`match`, never a search), so a document with no bracket left costs one pass, not one per
# character.
_NEXT = re.compile(
    r'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+"(?!\s*+:))*+(?:("(?:[^"\\]++|\\.)*+")\s*+:|([\[\]{}]))', re.S
)


def spell(node: Node | None) -> str:
    steps: list[str] = []
    while node is not None and len(steps) < _MAX_STEPS:
        node, in_array, step = node
        key = str(step)
        steps.append(f"[{step}]" if in_array else f".{key}" if _IDENT.match(key) else f"[{json.dumps(key)}]")
    return ("$…" if node is not None else "$") + "".join(reversed(steps))


class _Open:
    """An open container: the node of the container itself, an array's count of commas so far (to `gap`,
    where the text since its last structural token starts), or an object's current key."""

    __slots__ = ("in_array", "below", "index", "key", "gap")

    def __init__(self, in_array: bool, below: Node | None, gap: int) -> None:
        self.in_array = in_array
        self.below = below
        self.index = 0
        self.key: str | None = None
        self.gap = gap


# The state after a structural token: (node of the innermost open container, in an array?, its commas to
# `gap`, its key, gap); None outside every container.
_State = tuple["Node | None", bool, int, "str | None", int] | None


class PathIndex:
    """The node of each string token of a valid JSON document. One pass visits only brackets and keys (a
    MiB of array strings is skipped at C speed); an array element's index is counted when asked for, from
    the last structural token before it (strings cut out, then its commas counted)."""

    def __init__(self, text: str) -> None:
        from .jsonscan import unescape  # jsonscan imports this module

        self.text = text
        self._pos: list[int] = []
        self._state: list[_State] = []
        self._counted: dict[int, tuple[int, int]] = {}  # gap -> (position, commas from gap to it)
        stack: list[_Open] = []
        pos = 0
        while (m := _NEXT.match(text, pos)) is not None:
            pos = m.end()
            top = stack[-1] if stack else None
            start = m.start(1) if m.group(1) is not None else m.start(2)
            tok = m.group(2)
            if tok in ("[", "{"):
                if top is not None and top.in_array:  # the new container's own index
                    top.index += self._commas(top.gap, start)
                    top.gap = start
                stack.append(_Open(tok == "[", _node(top), pos))
            elif tok is not None:
                if stack:
                    stack.pop()
                if stack:
                    stack[-1].gap = pos
            elif top is not None:
                top.key = unescape(m.group(1)[1:-1])[0]
                top.gap = pos
            top = stack[-1] if stack else None
            self._pos.append(start)
            self._state.append(
                None if top is None else (top.below, top.in_array, top.index, top.key, top.gap)
            )

    def node(self, token_start: int) -> Node | None:
        """The node of the string token at token_start."""
        k = bisect_right(self._pos, token_start) - 1
        state = self._state[k] if k >= 0 else None
        if state is None:
            return None
        below, in_array, index, key, gap = state
        if in_array:
            return (below, True, index + self._commas(gap, token_start))
        return below if key is None else (below, False, key)

    def _commas(self, gap: int, end: int) -> int:
        """Commas outside strings in text[gap:end] (which holds no bracket); counting resumes where the last
        question about the same stretch stopped, as findings are located in order."""
        if end <= gap:
            return 0
        start, count = self._counted.get(gap, (gap, 0))
        if end < start:
            start, count = gap, 0
        stretch = self.text[start:end]
        if "\\" in stretch:
            count += _STRING.sub("", stretch).count(",")
        else:  # no escaped quote: every other piece between quotes is outside the strings
            count += "".join(stretch.split('"')[::2]).count(",")
        self._counted[gap] = (end, count)
        return count


def _node(top: _Open | None) -> Node | None:
    if top is None:
        return None
    step = top.index if top.in_array else top.key
    return top.below if step is None else (top.below, top.in_array, step)
