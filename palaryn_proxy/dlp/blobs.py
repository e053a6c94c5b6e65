"""Base64 blobs inside a segment, decoded into child segments (bounded depth and size); the children are read
by the decoding layers too (layers.py), and a blob of compressed or UTF-16 text decodes to that text."""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left
from collections.abc import Iterator
from functools import cache
from itertools import accumulate
from typing import TYPE_CHECKING

from .config import DecodeConfig
from .layer_bytes import as_text, bytes_text
from .layers import expand
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


def blob_text(raw: bytes, decode: DecodeConfig, room: int | None = None) -> str | None:
    """The text decode_blob reads in a blob's bytes: UTF-8, or compressed or UTF-16 / UTF-32 text as
    `decode` allows (what a fast path asks to tell whether a blob decodes to something worth scanning)."""
    found = bytes_text(raw, decode.base64_max_bytes if room is None else room, decode.compressed, decode.wide)
    return found[0] if found else None


def decode_blob(
    seg: Segment,
    start: int,
    end: int,
    min_printable: float = 0.95,
    *,
    decode: DecodeConfig | None = None,
    budget: list[int] | None = None,
) -> Segment | None:
    """The child segment of seg.text[start:end] if it is base64 of text, else None. With `decode`, base64
    of compressed text (`dlp.decode.compressed`) or of UTF-16 / UTF-32 text (`dlp.decode.wide`) counts too;
    what inflating produces is taken from `budget` (the bytes still to decode in this scan).

    A finding inside decoded base64 cannot be redacted in place without re-encoding, so the child maps
    every character to the whole blob: redaction replaces the entire blob with `[REDACTED:<type>]`.
    """
    blob = seg.text[start:end]
    if _HEX.match(blob):
        return None  # hex is the `hex` layer's (layers.py)
    raw = decode_base64(blob)
    if not raw:
        return None
    if decode is None:
        text = as_text(raw, min_printable)
    else:
        room = budget[0] if budget is not None else decode.base64_max_bytes
        found = bytes_text(raw, room, decode.compressed, decode.wide, min_printable)
        text = found[0] if found else None
        if found and budget is not None:
            budget[0] -= found[1]
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
    batch: Batch, decode: DecodeConfig | int, taken: list[list[tuple[int, int]]], budget: list[int]
) -> list[Segment]:
    """Decoded children of the base64 runs in a batch of segments, except runs overlapping a span in
    `taken` (per segment), and the readings the decoding layers find in those children; `budget` is
    decremented by the decoded size and stops decoding at zero. `decode` may be the minimum blob length
    alone (then the default config)."""
    cfg = decode if isinstance(decode, DecodeConfig) else DecodeConfig(base64_min_length=decode)
    out = []
    index: dict[int, tuple[list[int], list[int]]] = {}  # per segment: taken starts, running max of ends
    for span in blob_spans(batch.text, cfg.base64_min_length):
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
        seg = batch.segments[i]
        if seg.group is not None:
            member = seg.group.resolve(s, e)
            if member is None:
                continue
            seg, s, e = member
        budget[0] -= (e - s) * 3 // 4
        child = decode_blob(seg, s, e, decode=cfg, budget=budget)
        if child is not None:
            out.append(child)
    return expand(out, cfg)
