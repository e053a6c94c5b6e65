"""A segment: one decoded, folded piece of text to scan, with the maps back to the part it came from."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from .offsets import OffsetMap


@dataclass(slots=True)
class Segment:
    """Text to scan and how to find its characters in the original part.

    `container` names the part redaction edits ("body", "path" for path_and_query, "header:<index>");
    `part` and `name` say where a credential travelled, for binding ("header" + header name, "query" +
    parameter name, "path", "body"); `key` is the field name (JSON key, form or query parameter) that keyed
    detectors test; `quote` means a replacement must be percent-encoded (query string, form body).
    """

    text: str
    maps: tuple[OffsetMap, ...]
    container: str
    part: str = "body"
    name: str = ""
    key: str | None = None
    quote: bool = False
    detail: str = ""
    locate: Callable[[], str] | None = None
    depth: int = 0
    wrap: str = ""  # put around a replacement: '"' for a JSON number, which must become a JSON string
    group: Group | None = None  # a stand-in for the segments of many short strings (see Group)

    def where(self, direction: str) -> str:
        detail = self.locate() if self.locate is not None else self.detail
        return f"{direction}.{self.part}:{detail}" if detail else f"{direction}.{self.part}"


# Joins the segments of one scan (engine.SEPARATOR); a Group joins its members' texts with it.
SEPARATOR = "\n\x00\n"


class Group:
    """Short JSON strings scanned as one segment: its text is their texts joined by SEPARATOR, exactly what
    the engine would join their own segments into, so the detectors see the same text. A member's own
    segment is built only when a hit lands in it or a decoding layer reads it (a MiB of `"a1b2c",` is
    130,000 strings)."""

    __slots__ = ("texts", "_starts", "_make", "_members")

    def __init__(self, texts: list[str], make: Callable[[int], Segment]) -> None:
        self.texts = texts  # the members' texts
        self._starts: list[int] = []
        self._make = make
        self._members: dict[int, Segment] = {}

    @property
    def starts(self) -> list[int]:
        """Where each member's text starts in the group's text (worked out on first use)."""
        if not self._starts:
            pos = 0
            for t in self.texts:
                self._starts.append(pos)
                pos += len(t) + len(SEPARATOR)
        return self._starts

    def member(self, j: int) -> Segment:
        got = self._members.get(j)
        if got is None:
            got = self._members[j] = self._make(j)
        return got

    def members(self) -> list[Segment]:
        return [self.member(j) for j in range(len(self.texts))]

    def resolve(self, start: int, end: int) -> tuple[Segment, int, int] | None:
        """The member holding [start, end) of the group's text and the span in its own text; None if the
        span runs past the member's end (as the engine drops a match across its separator)."""
        starts = self.starts
        j = bisect_right(starts, start) - 1
        seg = self.member(j)
        base = starts[j]
        if end - base > len(seg.text):
            return None
        return seg, start - base, end - base
