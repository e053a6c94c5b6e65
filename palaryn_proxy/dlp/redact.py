"""Replacing findings' spans with `[REDACTED:<type>]`, keeping the rest of the part byte-identical."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote


def marker(type_: str, percent: bool = False) -> str:
    """The replacement text; contains no quote or backslash, so a JSON string stays valid."""
    text = f"[REDACTED:{type_}]"
    return quote(text, safe="") if percent else text


def _merged(spans: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans as one, replaced by the first marker among them: two findings that share characters
    (personal data side by side, a finding streamed over several events) are both redacted whole, and the
    marker survives even when the first span is a streamed finding's empty continuation."""
    out: list[tuple[int, int, str]] = []
    for s, e, rep in sorted(spans):
        if out and s < out[-1][1]:
            ps, pe, prep = out[-1]
            out[-1] = (ps, max(pe, e), prep or rep)
        else:
            out.append((s, e, rep))
    return out


def apply_bytes(data: bytes, spans: Sequence[tuple[int, int, str]], encoding: str = "utf-8") -> bytes:
    """Replace byte spans of data with texts in `encoding` (a UTF-16 body gets UTF-16 markers)."""
    parts: list[bytes] = []
    pos = 0
    for s, e, rep in _merged(spans):
        parts += [data[pos:s], rep.encode(encoding)]
        pos = e
    parts.append(data[pos:])
    return b"".join(parts)


def apply_text(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    pos = 0
    for s, e, rep in _merged(spans):
        parts += [text[pos:s], rep]
        pos = e
    parts.append(text[pos:])
    return "".join(parts)
