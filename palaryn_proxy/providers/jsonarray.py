"""Incremental splitter for a streamed top-level JSON array (Gemini streamGenerateContent without alt=sse).

The stream looks like `[{...}\\n,\\r\\n{...}\\n]`; each top-level object is yielded as soon as its closing
brace arrives. A top-level object instead of an array (an error body) is yielded as one frame.
"""

from __future__ import annotations

import re

from .frames import MAX_FRAME_BYTES, Frame

_STRUCT = re.compile(rb'[\[\]{}",]')  # between elements, commas matter
_STRUCT_IN = re.compile(rb'[\[\]{}"]')  # inside an element they do not
_IN_STRING = re.compile(rb'["\\]')


class JSONArrayDecoder:
    """Yield each element object of a top-level JSON array, tracking strings and escapes across chunks."""

    def __init__(self, max_object_bytes: int = MAX_FRAME_BYTES) -> None:
        self.problem: str | None = None
        self.opened = False  # the top-level "[" was seen
        self.closed = False  # the matching "]" was seen (or a top-level object ended)
        self.count = 0  # elements yielded so far
        self.comma_pending = False  # an element ended and its separating comma has not come yet
        self._max = max_object_bytes
        self._depth = 0  # nesting depth counting the top-level array itself
        self._in_string = False
        self._escape = False  # a backslash ended the previous chunk inside a string
        self._obj_depth = 0  # depth at which the current element object started; 0 = none
        self._pieces: list[bytes] = []
        self._len = 0
        self._skip = False  # current element is oversized: scan it but do not keep it

    @property
    def at_boundary(self) -> bool:
        return self._obj_depth == 0 and not self._in_string

    def feed(self, chunk: bytes) -> list[Frame]:
        if not chunk or self.closed:
            return []
        out: list[Frame] = []
        start = 0 if self._obj_depth else -1  # where the current element starts in this chunk
        i, n = 0, len(chunk)
        if self._escape:
            self._escape, i = False, 1
        while i < n:
            if self._in_string:
                m = _IN_STRING.search(chunk, i)
                if m is None:
                    break
                if m.group() == b"\\":
                    i = m.end() + 1
                    if i > n:
                        self._escape = True
                    continue
                self._in_string, i = False, m.end()
                continue
            m = (_STRUCT_IN if self._obj_depth else _STRUCT).search(chunk, i)
            if m is None:
                break
            i = m.end()
            start = self._structural(m.group(), m.start(), i, chunk, start, out)
            if self.closed:
                return out
        if self._obj_depth and start >= 0:
            self._keep(chunk[start:])
        return out

    def close(self) -> list[Frame]:
        if not self.closed and (self.opened or self._obj_depth):
            if self.problem is None:
                self.problem = "json array not closed"
        return []

    def _structural(self, ch: bytes, at: int, after: int, chunk: bytes, start: int, out: list[Frame]) -> int:
        if ch == b'"':
            self._in_string = True
        elif ch == b",":
            if self._depth == 1:
                self.comma_pending = False
        elif ch in b"[{":
            if self._depth == 0 and ch == b"[":
                self.opened = True
            elif self._obj_depth == 0 and ch == b"{" and self._depth <= 1:
                self._obj_depth, start = self._depth + 1, at
            self._depth += 1
        else:
            self._depth -= 1
            if self._obj_depth and self._depth == self._obj_depth - 1:
                self._keep(chunk[start:after])
                self._element_done(out)
                start = -1
            if self._depth <= 0:
                self.closed = True
        return start

    def _keep(self, piece: bytes) -> None:
        if self._skip:
            return
        self._pieces.append(piece)
        self._len += len(piece)
        if self._len > self._max:
            self._skip, self._pieces, self._len = True, [], 0
            if self.problem is None:
                self.problem = "json array element too large"

    def _element_done(self, out: list[Frame]) -> None:
        if not self._skip:
            out.append(Frame(None, b"".join(self._pieces)))
            self.count += 1
        self.comma_pending = True
        self._pieces, self._len, self._skip, self._obj_depth = [], 0, False, 0
