"""Evasion-resistant decoding layers: other readings of a segment's text (hex, HTML entities, escapes,
%-encoding, cut-up and spaced-out tokens, NUL-interleaved text), each a segment mapped back to the source.

A layer finds the encoded runs of a text and reads them; a reading is a window of the text around the runs
that matter, with the runs decoded, as one more segment of the same part and depth. Its OffsetMap leads
every character back to the source: a finding inside a decoded run maps to the whole run (redaction
replaces the encoded original), a finding across a removed joint spans the joint, a finding in spaced-out
characters spans from its first to its last. Readings are read again by the layers (`layers_max_depth`
rounds), so `%26%23103%3B` (an entity, %-encoded) reads as `g`. Base64 runs are not a layer here: the
engine decodes them level by level (blobs.blob_children), and every decoded child gets these layers too.

Bounds: each layer reads at most `layers_max_runs` runs of a text (at C speed where it can: re.split and
map, no Python step per run), readings of one call total at most `layers_max_chars` characters, and every
regex is possessive or bounded. A text without a layer's trigger costs that layer one substring test or
one bytes.translate: the clean path stays cheap.

Unicode tag characters (U+E0020-E007E smuggling ASCII) are read by normalize.fold itself, before any
segment exists (a run of 8 or more reads as the ASCII it hides, see normalize.TAG_RUN).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from . import hsprefilter
from .config import DecodeConfig
from .layer_code import has_joins, has_spaced, joins, nul_interleaved, spaced
from .layer_text import (
    NAMES,
    Probe,
    Rewrite,
    entities,
    escapes,
    has_entities,
    has_escapes,
    has_hex,
    has_percent,
    hex_runs,
    percent,
)
from .normalize import fold
from .offsets import OffsetMap
from .segment import SEPARATOR, Segment

# For each layer, a regex whose absence from a segment's text proves the layer reads nothing there (what
# a Hyperscan prefilter can test for all layers in one pass). No lookarounds, back-references, possessive
# or atomic groups; compile `pattern.encode()` (UTF-8: `tags` holds two non-ASCII characters). Texts are
# segment texts (folded), except `tags`, which fold reads in the text before folding.
LAYER_TRIGGERS: dict[str, str] = {
    "hex": r"[0-9A-Fa-f]{32}|(?:(?:0[xX])?[0-9A-Fa-f]{2}(?:, ?|[ :-])){15}",
    "entities": rf"&(?:#[0-9]|#[xX][0-9A-Fa-f]|(?:{NAMES});)",
    "escapes": r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]|[0-3][0-7]{2})",
    "percent": r"%[0-9A-Fa-f]{2}",
    "joins": (
        r"[\"'`][ \t\r\n|&\\+.~bfruBFRU]{0,128}[\"'`][\w+/=.~:@-]"
        r"|\\\r?\n"
        r"|[A-Za-z0-9+/=_.~-]{16}\r?\n"
    ),
    "spaced": r"[A-Za-z0-9](?:[ \t\r\n.,|:/;*+~'\"-]{1,4}[A-Za-z0-9]){7}",
    "nul": r"(?:[^\x00]\x00){8}",
    "tags": "[\U000e0020-\U000e007e]{8}",
}

# Joins the texts of a round for one quick test per layer; not NUL (the `nul` layer's test), a character
# no layer reads.
_SEPARATOR = "\n\x01\n"
_WHOLE = 8192  # a text up to this long is read whole; a longer one in windows around what was decoded
_CONTEXT = 256  # characters kept on each side of a decoded run (for `password = <decoded>`)
_EDGE = 64  # a window edge moves out to the next whitespace within this many characters


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    quick: Callable[[Probe], bool]  # a cheap necessary condition for read() to find anything
    read: Callable[[Probe, DecodeConfig], Rewrite | None]


def _hex(p: Probe, d: DecodeConfig) -> Rewrite | None:
    room = min(d.layers_max_chars, d.base64_max_bytes)
    return hex_runs(p, d.hex_min_length, room, d.layers_max_runs, d.compressed, d.wide)


LAYERS: tuple[Layer, ...] = (
    Layer("hex", has_hex, _hex),
    Layer("entities", has_entities, lambda p, d: entities(p, d.layers_max_runs)),
    Layer("escapes", has_escapes, lambda p, d: escapes(p, d.layers_max_runs)),
    Layer("percent", has_percent, lambda p, d: percent(p, d.layers_max_runs)),
    Layer("joins", has_joins, lambda p, d: joins(p, d.layers_max_runs)),
    Layer("spaced", has_spaced, lambda p, d: spaced(p, d.spaced_min_chars, d.layers_max_runs)),
    Layer("nul", lambda p: "\x00" in p.text, lambda p, d: nul_interleaved(p, d.layers_max_runs)),
)


@lru_cache(maxsize=32)
def active(decode: DecodeConfig) -> tuple[Layer, ...]:
    """The layers the config switches on (`dlp.decode.<name>`; `nul` follows `wide`)."""
    if decode.layers_max_depth == 0:
        return ()
    on = {layer.name: getattr(decode, layer.name, False) for layer in LAYERS} | {"nul": decode.wide}
    return tuple(layer for layer in LAYERS if on[layer.name])


def may_read(text: str, decode: DecodeConfig) -> bool:
    """Could a layer `decode` switches on read anything in text? Each layer's cheap test only: what a fast
    path asks before it calls a text clean without building its segments."""
    return bool(live(*_setup(decode), Probe(text)))


_Setup = tuple[tuple[Layer, ...], hsprefilter.Triggers | None]
# By the config object's identity, kept alive in the entry: hashing a DecodeConfig (and the layers) on each
# call costs more than the Hyperscan pass over a short text.
_SETUPS: dict[int, tuple[DecodeConfig, _Setup]] = {}


def _setup(decode: DecodeConfig) -> _Setup:
    """The active layers of a config and the Hyperscan database of their triggers (None: no Hyperscan)."""
    got = _SETUPS.get(id(decode))
    if got is None or got[0] is not decode:
        layers = active(decode)
        got = (decode, (layers, _triggers(layers)))
        if len(_SETUPS) >= 64:
            _SETUPS.clear()
        _SETUPS[id(decode)] = got
    return got[1]


@lru_cache(maxsize=32)
def _triggers(layers: tuple[Layer, ...]) -> hsprefilter.Triggers | None:
    if not hsprefilter.AVAILABLE or not layers:
        return None
    return hsprefilter.triggers(tuple((layer.name, LAYER_TRIGGERS[layer.name]) for layer in layers))


def live(layers: tuple[Layer, ...], db: hsprefilter.Triggers | None, probe: Probe) -> list[Layer]:
    """The layers whose cheap test passes on the probe's text. With Hyperscan (`db`, their triggers) and an
    ASCII text, only the layers whose trigger occurs there are tested (a layer reads nothing where its
    trigger is absent): all triggers cost one pass, where the cheap tests cost a Python pass each (a clean
    MiB: tens of ms)."""
    text = probe.text
    if db is None or not text.isascii():
        return [layer for layer in layers if layer.quick(probe)]
    names = db.found(text.encode("ascii"))
    return [layer for layer in layers if layer.name in names and layer.quick(probe)]


def expand(
    segments: Sequence[Segment],
    decode: DecodeConfig,
    triggered: Callable[[str], Collection[str]] | None = None,
) -> list[Segment]:
    """The segments, then the readings the layers find in them (and in those readings, `layers_max_depth`
    rounds). `triggered(text)`, if given, names the layers whose trigger occurs in a text (a prefilter
    that tested LAYER_TRIGGERS); without it each layer runs its own cheap test."""
    layers, db = _setup(decode)
    out = list(segments)
    if not layers or not out:
        return out
    budget = decode.layers_max_chars
    seen: set[str] = set()
    todo = out
    for _ in range(decode.layers_max_depth):
        extras: list[Segment] = []
        batch = Probe(_text(todo[0]) if len(todo) == 1 else _SEPARATOR.join(_text(s) for s in todo))
        found = live(layers, db, batch)
        segs = [m for s in todo for m in (s.group.members() if s.group else (s,))] if found else []
        for seg in segs:
            names = triggered(seg.text) if triggered is not None else None
            probe = batch if len(segs) == 1 else Probe(seg.text)
            for layer in found:
                if names is not None and layer.name not in names:
                    continue
                if probe is not batch and not layer.quick(probe):
                    continue
                rw = layer.read(probe, decode)
                if rw is None:
                    continue
                for text, m in windows(seg.text, rw):
                    if budget <= 0:
                        return out + extras
                    if text not in seen:
                        seen.add(text)
                        budget -= len(text)
                        extras.append(reading(seg, text, m))
        if not extras:
            break
        out += extras
        todo = extras
    return out


def _text(seg: Segment) -> str:
    """The segment's text, a group's as its members' texts joined by _SEPARATOR (they hold no NUL)."""
    return seg.text.replace(SEPARATOR, _SEPARATOR) if seg.group is not None else seg.text


def char_lists(text: str, base: tuple[OffsetMap, ...], decode: DecodeConfig) -> list[Segment]:
    """Readings of a JSON document's own text by the `spaced` layer: an array of one-character strings
    (`["g", "h", "p", ...]`, each string too short to be a segment) reads as the token it spells; its
    redaction (`["[REDACTED:<type>]"]`) keeps the document valid."""
    if not decode.spaced or decode.layers_max_depth == 0 or ('", "' not in text and '","' not in text):
        return []
    probe = Probe(text)
    rw = spaced(probe, decode.spaced_min_chars, decode.layers_max_runs) if has_spaced(probe) else None
    if rw is None:
        return []
    doc = Segment(text, base, "body")
    return [reading(doc, t, m) for t, m in windows(text, rw)]


def reading(seg: Segment, text: str, m: OffsetMap) -> Segment:
    """A segment of the same part as seg holding text, whose characters map through m into seg's text."""
    folded, fmap = fold(text)
    return Segment(
        text=folded,
        maps=((fmap, m) if fmap else (m,)) + seg.maps,
        container=seg.container,
        part=seg.part,
        name=seg.name,
        key=seg.key,
        quote=seg.quote,
        detail=seg.detail,
        locate=seg.locate,
        depth=seg.depth,
        wrap=seg.wrap,
    )


def windows(text: str, rw: Rewrite) -> list[tuple[str, OffsetMap]]:
    """The readings of a rewritten text: the whole text when short, else windows of _CONTEXT characters
    around each marked piece (merged where they overlap), each with its map into text."""
    starts = list(accumulate(map(len, rw.src), initial=0))
    if len(text) <= _WHOLE:
        return [_window(rw, starts, 0, len(rw.src), 0, len(text))]
    spans: list[tuple[int, int]] = []
    a = b = -1
    for k in rw.marks:  # merged first, widened once per window: a dense text costs no search per run
        s, e = starts[k] - _CONTEXT, starts[k + 1] + _CONTEXT
        if s > b:
            if b >= 0:
                spans.append(_widen(text, a, b))
            a = s
        b = max(b, e)
    spans.append(_widen(text, a, b))
    out = []
    for a, b in spans:
        i = bisect_right(starts, a) - 1  # the piece holding a
        j = bisect_left(starts, b)  # pieces before j start before b
        out.append(_window(rw, starts, i, j, a, b))
    return out


def _widen(text: str, a: int, b: int) -> tuple[int, int]:
    """Move a window's edges out to whitespace nearby, so a window does not start inside a token."""
    a, b = max(a, 0), min(b, len(text))
    if a:
        cut = max(text.rfind(" ", a - _EDGE, a), text.rfind("\n", a - _EDGE, a))
        a = cut + 1 if cut != -1 else a
    if b < len(text):
        ends = [e for e in (text.find(" ", b, b + _EDGE), text.find("\n", b, b + _EDGE)) if e != -1]
        b = min(ends) if ends else b
    return a, b


def _window(rw: Rewrite, starts: list[int], i: int, j: int, a: int, b: int) -> tuple[str, OffsetMap]:
    """Pieces i..j-1 read as one text, the first and last cut to [a, b) when copied, kept whole when not."""
    src = rw.src[i:j]
    out = rw.out[i:j]
    scales = rw.scales[i:j]
    base = starts[i]
    if scales[0] == 1 and a > base:
        cut = a - base
        src[0], out[0], base = src[0][cut:], out[0][cut:], a
    if scales[-1] == 1 and b < starts[j]:
        keep = len(src[-1]) - (starts[j] - b)
        src[-1], out[-1] = src[-1][:keep], out[-1][:keep]
    return "".join(out), OffsetMap.spliced(base, list(map(len, src)), list(map(len, out)), scales)
