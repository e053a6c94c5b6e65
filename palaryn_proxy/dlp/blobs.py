"""Base64 blobs inside a segment, decoded into child segments (bounded depth and size)."""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING

from .normalize import fold
from .offsets import OffsetMap
from .segment import Segment
from .shapes import BASE64, runs

if TYPE_CHECKING:
    from .engine import _Batch as Batch

# A run of base64 characters. No lookbehind (it would defeat the regex engine's fast scan): a left-to-right
# scan starts every match at the beginning of its run anyway.
BLOB_RE = re.compile(r"[A-Za-z0-9+/_-]{16,1048576}+={0,2}+(?![A-Za-z0-9+/=_-])")
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


def blob_matches(text: str, min_length: int) -> Iterator[re.Match[str]]:
    """BLOB_RE.finditer(text), less matches shorter than min_length, without a regex scan of the whole text.

    A match of min_length holds a run of at least min_length - 2 base64 characters (it may end in `==`),
    found in the text's BASE64 shape. Base64 characters are ASCII, so in an ASCII text the regex starts at
    each such run; another text with such a run gets the full scan.
    """
    found = runs(text, BASE64, max(16, min_length - 2))
    if not text.isascii():
        if next(found, None) is not None:
            yield from BLOB_RE.finditer(text)
        return
    pos = 0
    for start, _ in found:
        if start >= pos:
            m = BLOB_RE.search(text, start)  # the first match from the run's start: finditer's next one
            if m is None:
                return
            yield m
            pos = m.end()


def blob_children(
    batch: Batch, min_length: int, taken: list[list[tuple[int, int]]], budget: list[int]
) -> list[Segment]:
    """Decoded children of the base64 runs in a batch of segments, except runs overlapping a span in
    `taken` (per segment); `budget` is decremented by the decoded size and stops decoding at zero."""
    out = []
    index: dict[int, tuple[list[int], list[int]]] = {}  # per segment: taken starts, running max of ends
    for m in blob_matches(batch.text, min_length):
        if m.end() - m.start() < min_length or budget[0] <= 0:
            continue
        loc = batch.locate(*m.span())
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
