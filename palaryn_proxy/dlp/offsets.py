"""Piecewise offset maps from a derived (decoded, folded) string back to the positions of its source."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate, compress

_ATOMIC = 0  # scale value of a piece whose characters all map to the whole source piece


class OffsetMap:
    """Maps positions in an output string to positions in the string or bytes it was derived from.

    The output is a sequence of pieces. A linear piece of scale k maps output character i to source
    position ``src + k * (i - out)`` (k=1: copied text; k=3: a run of 3-byte UTF-8 characters). An atomic
    piece (an escape sequence, a folded character) maps any character inside it to the whole source span,
    so a finding never cuts an escape in half. A strided piece (scale -k) reads one source character in
    every k (`g h p` read as `ghp`): output i maps to the single character at ``src + k * (i - out)``, so
    a finding spans from its first character to its last, not the separator after it.
    """

    __slots__ = ("_out", "_src", "_scale", "_slen", "length")

    def __init__(self) -> None:
        self._out: list[int] = []
        self._src: list[int] = []
        self._scale: list[int] = []
        self._slen: list[int] = []
        self.length = 0

    @staticmethod
    def shift(base: int, length: int) -> OffsetMap:
        """The map of a plain slice: output i is source base + i."""
        return _Slice(base, length)

    def add(self, src: int, src_len: int, out_len: int, scale: int) -> None:
        """Append a piece; zero-length output pieces (dropped characters) are not recorded."""
        if out_len == 0:
            return
        if self._scale and scale == 1 and self._scale[-1] == 1:
            last = len(self._out) - 1
            if (
                self._src[last] + self._slen[last] == src
                and self._out[last] + self._slen[last] == self.length
            ):
                self._slen[last] += src_len
                self.length += out_len
                return
        self._out.append(self.length)
        self._src.append(src)
        self._scale.append(scale)
        self._slen.append(src_len)
        self.length += out_len

    def start(self, i: int) -> int:
        """Source position where output position i starts."""
        if not self._out:
            return 0
        if i >= self.length:
            k = len(self._out) - 1
            return self._src[k] + self._slen[k]
        k = max(bisect_right(self._out, i) - 1, 0)
        scale = self._scale[k]
        if scale == _ATOMIC:
            return self._src[k]
        return self._src[k] + abs(scale) * (i - self._out[k])

    def end(self, j: int) -> int:
        """Source position where the output range ending (exclusively) at j ends."""
        if not self._out:
            return 0
        if j <= 0:
            return self._src[0]
        k = max(bisect_right(self._out, j - 1) - 1, 0)
        scale = self._scale[k]
        if scale == _ATOMIC:
            return self._src[k] + self._slen[k]
        if scale < 0:
            return self._src[k] - scale * (j - 1 - self._out[k]) + 1
        return self._src[k] + scale * (j - self._out[k])

    @classmethod
    def spliced(
        cls, base: int, src_lens: Sequence[int], out_lens: Sequence[int], scales: Sequence[int]
    ) -> OffsetMap:
        """The map of a text rebuilt from consecutive source pieces starting at `base`: piece i of src_lens[i]
        source characters became out_lens[i] output characters, read with scales[i] (1 copied, 0 atomic,
        -k strided). Built with C-level iteration: a hostile text of many small pieces stays cheap."""
        m = cls()
        src = list(accumulate(src_lens, initial=base))
        out = list(accumulate(out_lens, initial=0))
        m._out = list(compress(out, out_lens))  # pieces that produced nothing (a removed joint) are left out
        m._src = list(compress(src, out_lens))
        m._scale = list(compress(scales, out_lens))
        m._slen = list(compress(src_lens, out_lens))
        m.length = out[-1]
        return m


class _Slice(OffsetMap):
    """OffsetMap.shift: the one linear piece of a slice, without the piece lists (one is made per JSON
    string). Read-only: start() and end() give what OffsetMap's would."""

    __slots__ = ("_base",)

    def __init__(self, base: int, length: int) -> None:  # the piece lists stay unset
        self._base = base
        self.length = length

    def add(self, src: int, src_len: int, out_len: int, scale: int) -> None:
        raise TypeError("a slice map cannot be extended")

    def start(self, i: int) -> int:
        return self._base + min(i, self.length) if self.length else 0

    def end(self, j: int) -> int:
        return self._base + max(j, 0) if self.length else 0


class MapBuilder:
    """Builds an output string together with its OffsetMap, piece by piece."""

    __slots__ = ("_parts", "map")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.map = OffsetMap()

    def copy(self, text: str, src: int, scale: int = 1) -> None:
        """Append text copied verbatim from source position src (each char is `scale` source units)."""
        if text:
            self._parts.append(text)
            self.map.add(src, len(text) * scale, len(text), scale)

    def stride(self, text: str, src: int, step: int) -> None:
        """Append text read from every `step`-th source character from src (separators skipped)."""
        if text:
            self._parts.append(text)
            self.map.add(src, (len(text) - 1) * step + 1, len(text), -step)

    def sub(self, src: int, src_len: int, text: str) -> None:
        """Append text that replaces the source span [src, src+src_len) as one atomic piece."""
        if text:
            self._parts.append(text)
        self.map.add(src, src_len, len(text), _ATOMIC if src_len != len(text) or len(text) != 1 else 1)

    def build(self) -> tuple[str, OffsetMap]:
        return "".join(self._parts), self.map


def to_source(maps: Sequence[OffsetMap], start: int, end: int) -> tuple[int, int]:
    """Map the span [start, end) through a chain of maps, innermost first."""
    for m in maps:
        start, end = m.start(start), m.end(end)
    return start, end
