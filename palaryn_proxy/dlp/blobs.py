"""Base64 blobs inside a segment, decoded into child segments (bounded depth and size)."""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left
from collections.abc import Iterator
from functools import cache
from itertools import accumulate
from typing import TYPE_CHECKING

from .normalize import fold
from .offsets import OffsetMap
from .segment import Segment
from .shapes import BASE64, MARK, has, runs

if TYPE_CHECKING:
    from .engine import _Batch as Batch

# Base64 characters, standard and URL-safe. A blob is a maximal run of at least 16 of them, its `=` padding
# (at most two) and no base64 character or `=` right after.
B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
# Characters of one blob: of a longer run only the last MAX_BLOB (from a multiple of 4 from the run's start,
# so it still decodes) are a blob. Each run is looked at once, so the scan is linear however long it is.
MAX_BLOB = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]++$")


def decode_base64(blob: str) -> bytes | None:
    body = blob.rstrip("=")
    urlsafe = "-" in body or "_" in body
    if urlsafe and ("+" in body or "/" in body):
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def as_text(raw: bytes, min_printable: float) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
    return text if printable >= min_printable * len(text) else None


def decode_blob(seg: Segment, start: int, end: int, min_printable: float = 0.95) -> Segment | None:
    """The child segment of seg.text[start:end] if it is base64 of text, else None.

    A finding inside decoded base64 cannot be redacted in place without re-encoding, so the child maps
    every character to the whole blob: redaction replaces the entire blob with `[REDACTED:<type>]`.
    """
    blob = seg.text[start:end]
    if _HEX.match(blob):
        return None
    raw = decode_base64(blob)
    text = as_text(raw, min_printable) if raw else None
    if text is None:
        return None
    folded, fmap = fold(text)
    whole = OffsetMap()
    whole.add(start, end - start, len(text), 0)  # atomic: any character maps to the whole blob
    return Segment(
        text=folded,
        maps=((fmap,) if fmap else ()) + (whole,) + seg.maps,
        container=seg.container,
        part=seg.part,
        name=seg.name,
        quote=seg.quote,
        detail=seg.detail,
        locate=seg.locate,
        depth=seg.depth + 1,
    )


def _runs(text: str, n: int) -> Iterator[tuple[int, int]]:
    """Maximal runs of at least n base64 characters, as character positions."""
    if text.isascii():
        yield from runs(text, BASE64, n)  # byte offsets are character positions
    elif has(text, BASE64, MARK * n):
        yield from (m.span() for m in _run_re(n).finditer(text))


@cache
def _run_re(n: int) -> re.Pattern[str]:
    return re.compile(f"[A-Za-z0-9+/_-]{{{n},}}+")  # possessive: a run is matched once, never shortened


def blob_spans(text: str, min_length: int, cap: int = MAX_BLOB) -> Iterator[tuple[int, int]]:
    """(start, end) of each blob of at least min_length characters (padding included), in order."""
    n = len(text)
    for s, e in _runs(text, max(16, min_length - 2)):
        end = e
        while end < n and end - e < 3 and text[end] == "=":
            end += 1
        if end - e == 3 or (end < n and text[end] in B64_CHARS):
            continue  # three `=`, or `=` then more base64: not a blob
        if e - s > cap:
            s = e - cap + (s - e + cap) % 4
        if end - s >= min_length:
            yield s, end


def blob_children(
    batch: Batch, min_length: int, taken: list[list[tuple[int, int]]], budget: list[int]
) -> list[Segment]:
    """Decoded children of the base64 runs in a batch of segments, except runs overlapping a span in
    `taken` (per segment); `budget` is decremented by the decoded size and stops decoding at zero."""
    out = []
    index: dict[int, tuple[list[int], list[int]]] = {}  # per segment: taken starts, running max of ends
    for span in blob_spans(batch.text, min_length):
        if budget[0] <= 0:
            break
        loc = batch.locate(*span)
        if loc is None:
            continue
        i, s, e = loc
        if i not in index:
            spans = sorted(taken[i])
            index[i] = [a for a, _ in spans], list(accumulate((b for _, b in spans), max))
        starts, max_ends = index[i]
        k = bisect_left(starts, e)  # spans starting before the run ends; one overlaps if it ends after s
        if k and max_ends[k - 1] > s:
            continue
        budget[0] -= (e - s) * 3 // 4
        child = decode_blob(batch.segments[i], s, e)
        if child is not None:
            out.append(child)
    return out
