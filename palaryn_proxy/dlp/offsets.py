"""Piecewise offset maps from a derived (decoded, folded) string back to the positions of its source."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
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

    def pieces(self, length: int) -> tuple[list[int], list[int], list[int]]:
        """The map as consecutive source pieces covering [0, length) (spliced's arguments, base 0): what
        the dropped characters between recorded pieces were becomes a piece of no output."""
        src_lens: list[int] = []
        out_lens: list[int] = []
        scales: list[int] = []
        pos = 0
        for k, src in enumerate(self._src):
            if src > pos:
                src_lens.append(src - pos)
                out_lens.append(0)
                scales.append(1)
            out_end = self._out[k + 1] if k + 1 < len(self._out) else self.length
            src_lens.append(self._slen[k])
            out_lens.append(out_end - self._out[k])
            scales.append(self._scale[k])
            pos = src + self._slen[k]
        if length > pos:
            src_lens.append(length - pos)
            out_lens.append(0)
            scales.append(1)
        return src_lens, out_lens, scales


_BLOCK = 1024  # characters between two checkpoints of a Utf8Offsets map


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


class Utf8Offsets(OffsetMap):
    """Characters of a text decoded from UTF-8 (invalid bytes as surrogateescape'd characters) to the byte
    offsets of its source. A piece per run of one UTF-8 width costs a Python step per run, and a text of
    alternating widths (`a` and a zero-width space, a MiB of them) has a run per character; this map keeps
    the byte offset of every _BLOCK-th character instead (one encode per block, at C speed) and counts
    from the nearest one when asked. Read-only, like _Slice."""

    __slots__ = ("_text", "_marks")

    def __init__(self, text: str) -> None:  # the piece lists stay unset
        self._text = text
        self.length = len(text)
        blocks = (text[k : k + _BLOCK] for k in range(0, len(text), _BLOCK))
        self._marks = list(accumulate(map(_utf8_len, blocks), initial=0))

    def add(self, src: int, src_len: int, out_len: int, scale: int) -> None:
        raise TypeError("a UTF-8 offset map cannot be extended")

    def _byte(self, i: int) -> int:
        i = min(max(i, 0), self.length)
        q, r = divmod(i, _BLOCK)
        return self._marks[q] + (_utf8_len(self._text[i - r : i]) if r else 0)

    def start(self, i: int) -> int:
        return self._byte(i)

    def end(self, j: int) -> int:
        return self._byte(j)

    def pieces(self, length: int) -> tuple[list[int], list[int], list[int]]:
        raise TypeError("a UTF-8 offset map has no pieces")


class LazyMap(OffsetMap):
    """An OffsetMap built on first use: a map is read only where a finding is, and a hostile text of many
    small pieces (a MiB of `a` and a zero-width space) costs a piece per character to build."""

    __slots__ = ("_make", "_built")

    def __init__(self, length: int, make: Callable[[], OffsetMap]) -> None:  # the piece lists stay unset
        self.length = length
        self._make: Callable[[], OffsetMap] | None = make
        self._built: OffsetMap | None = None

    def _map(self) -> OffsetMap:
        if self._built is None:
            assert self._make is not None
            self._built, self._make = self._make(), None
        return self._built

    def add(self, src: int, src_len: int, out_len: int, scale: int) -> None:
        raise TypeError("a lazy map cannot be extended")

    def start(self, i: int) -> int:
        return self._map().start(i)

    def end(self, j: int) -> int:
        return self._map().end(j)

    def pieces(self, length: int) -> tuple[list[int], list[int], list[int]]:
        return self._map().pieces(length)


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
