"""A segment: one decoded, folded piece of text to scan, with the maps back to the part it came from."""

from __future__ import annotations

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

    def where(self, direction: str) -> str:
        detail = self.locate() if self.locate is not None else self.detail
        return f"{direction}.{self.part}:{detail}" if detail else f"{direction}.{self.part}"
