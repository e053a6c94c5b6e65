"""Running detectors over segments: prefilter, patterns, base64 children, and overlap resolution."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import segment
from .blobs import blob_children, blob_spans
from .cleancache import MIN_CHARS, CleanCache
from .config import DecodeConfig
from .detector import Detector, TextView
from .hsprefilter import BLOB_RUN
from .offsets import to_source
from .registry import Prefilter
from .segment import Segment


@dataclass(slots=True)
class Hit:
    """A validated match of `detector` in `segment`, located by `start`/`end` in the segment's container."""

    detector: Detector
    segment: Segment
    start: int
    end: int
    value: str


_SPECIFIC = 30  # hits of this priority or more (vendor formats) are not base64-decoded again
# Joins the segments of one scan into one text, so the prefilter and each pattern run once per message
# rather than once per JSON string. No pattern can match across it: no character class of a detector
# admits NUL, and the line breaks stop the `\s`-bounded ones.
SEPARATOR = segment.SEPARATOR


class _Batch:
    """Segments joined into one text; maps a position back to (segment index, local position)."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.starts: list[int] = []
        pos = 0
        for seg in segments:
            self.starts.append(pos)
            pos += len(seg.text) + len(SEPARATOR)
        self.text = segments[0].text if len(segments) == 1 else SEPARATOR.join(s.text for s in segments)

    def locate(self, start: int, end: int) -> tuple[int, int, int] | None:
        i = bisect_right(self.starts, start) - 1
        base = self.starts[i]
        if end - base > len(self.segments[i].text):
            return None
        return i, start - base, end - base


def _scan_batch(
    batch: _Batch, prefilter: Prefilter, hits: list[Hit]
) -> tuple[list[list[tuple[int, int]]], TextView]:
    """Append the batch's hits; return, per segment, the local spans of the specific ones, and the view
    the prefilter tested (it knows whether the text holds a base64 run)."""
    taken: list[list[tuple[int, int]]] = [[] for _ in batch.segments]
    view = TextView(batch.text)
    found: list[tuple[Detector, int, int, int, str]] = []
    for det in prefilter.candidates(view):
        for s, e, value in det.find(view):
            loc = batch.locate(s, e)
            if loc is not None:
                found.append((det, loc[0], loc[1], loc[2], value))
    for i, seg in enumerate(batch.segments):
        if seg.key is not None:
            keyed = prefilter.keyed(seg.key)
            found += [(det, i, s, e, v) for det in keyed for s, e, v in det.find(TextView(seg.text))]
    for det, i, s, e, value in found:
        seg, ls, le = batch.segments[i], s, e
        if seg.group is not None:  # the hit belongs to one string of the group
            member = seg.group.resolve(s, e)
            if member is None:
                continue
            seg, ls, le = member
        cs, ce = to_source(seg.maps, ls, le)
        hits.append(Hit(det, seg, cs, ce, value))
        if det.priority >= _SPECIFIC:
            taken[i].append((s, e))  # in the batch segment's own text, as blob_children reads it
    return taken, view


def detect(
    segments: Iterable[Segment],
    prefilter: Prefilter,
    decode: DecodeConfig,
    children: Prefilter | None = None,
    clean: CleanCache | None = None,
) -> list[Hit]:
    """All hits in the segments and, when enabled, in the base64 blobs they contain (depth-bounded).
    Decoded children are scanned with `children` (defaults to `prefilter`). Texts in `clean` are skipped,
    and the texts found clean here are added to it."""
    hits: list[Hit] = []
    budget = [decode.base64_max_bytes]
    level = [s for s in segments if s.text and not (clean is not None and _known_clean(s, prefilter, clean))]
    while level:
        batch = _Batch(level)
        taken, view = _scan_batch(batch, prefilter if level[0].depth == 0 else (children or prefilter), hits)
        if clean is not None and level[0].depth == 0:
            _remember_clean(level, hits, prefilter, decode.base64_min_length, clean)
        if not decode.base64 or level[0].depth >= decode.base64_max_depth:
            break
        if not view.has(*BLOB_RUN):  # no run of 16 base64 characters, no blob: the prefilter's scan told
            break
        level = blob_children(batch, decode, taken, budget)
    return hits


def _keyed(seg: Segment, prefilter: Prefilter) -> bool:
    """Does a keyed detector look at this segment (its field name picks it)? Then its text alone says nothing."""
    return seg.key is not None and bool(prefilter.keyed(seg.key))


def _known_clean(seg: Segment, prefilter: Prefilter, clean: CleanCache) -> bool:
    return seg.text in clean and not _keyed(seg, prefilter)


def _remember_clean(
    level: list[Segment], hits: list[Hit], prefilter: Prefilter, min_blob: int, clean: CleanCache
) -> None:
    """Add the texts of the top-level segments that had no hit to `clean` (unless keyed or holding a blob)."""
    hit_segments = {id(h.segment) for h in hits}
    for seg in level:
        if (
            len(seg.text) >= MIN_CHARS
            and seg.group is None  # its hits are its members'; and its text never recurs whole
            and id(seg) not in hit_segments
            and not _keyed(seg, prefilter)
            and next(blob_spans(seg.text, min_blob), None) is None
        ):
            clean.add(seg.text)


def resolve_overlaps(hits: Sequence[Hit]) -> list[Hit]:
    """Per container, keep the best of overlapping hits: higher priority, then the longer span.

    Personal data in a record sits side by side (`(415) 555-2671 536-22-8114`): a PII hit that overlaps
    only other PII hits, and only in part, is kept too, so none of its characters escape redaction (redact
    merges overlapping spans). A secret still takes its whole span; a hit inside kept ones adds nothing."""
    from .detector import PII  # (imports stay with the lead's part of this module)

    def overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
        i = bisect_left(spans, (s, e))
        return (i > 0 and spans[i - 1][1] > s) or (i < len(spans) and spans[i][0] < e)

    def covered(spans: list[tuple[int, int]], s: int, e: int) -> bool:
        i = bisect_right(spans, (s, 1 << 62)) - 1
        return i >= 0 and spans[i][1] >= e

    def merge(spans: list[tuple[int, int]], s: int, e: int) -> None:
        """Add [s, e) to sorted, disjoint spans, merging the ones it overlaps."""
        if not overlaps(spans, s, e):
            insort(spans, (s, e))
            return
        lo = bisect_left(spans, (s, e))
        if lo > 0 and spans[lo - 1][1] > s:
            lo -= 1
        hi = lo
        while hi < len(spans) and spans[hi][0] < e:
            hi += 1
        spans[lo:hi] = [(min(s, spans[lo][0]), max(e, spans[hi - 1][1]))]

    ranked = sorted(hits, key=lambda h: (-h.detector.priority, -(h.end - h.start), h.start))
    kept: list[Hit] = []
    union: dict[str, list[tuple[int, int]]] = {}  # per container: what kept hits cover, merged and sorted
    secret: dict[str, list[tuple[int, int]]] = {}  # the same for the kept hits that are not PII
    for h in ranked:
        c, s, e, pii = h.segment.container, h.start, h.end, h.detector.group == PII
        spans = union.setdefault(c, [])
        if overlaps(spans, s, e) and (not pii or overlaps(secret.get(c, []), s, e) or covered(spans, s, e)):
            continue
        merge(spans, s, e)
        if not pii:
            merge(secret.setdefault(c, []), s, e)
        kept.append(h)
    kept.sort(key=lambda h: (h.segment.container, h.start))
    return kept
