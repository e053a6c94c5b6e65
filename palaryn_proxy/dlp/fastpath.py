"""A JSON body proven clean in one pass: its strings, joined, tested by the prefilter before any segment is built."""

from __future__ import annotations

import json
from collections.abc import Callable

from .blobs import blob_spans, blob_text, decode_base64
from .config import DecodeConfig
from .detector import TextView
from .hsprefilter import BLOB_RUN
from .normalize import fold
from .registry import Prefilter

# Joins the strings; no pattern matches across it (see engine.SEPARATOR, the same text).
SEPARATOR = "\n\x00\n"
_LONG_INT = 10**11  # a JSON number of 12+ digits may be a card number: jsonscan gives it a segment
_DOC_START = ("{", "[")


def parse(text: str) -> object | None:
    """The JSON document, or None when the text is not one (or nests too deep to parse)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def clean_json(
    doc: object,
    prefilter: Prefilter,
    decode: DecodeConfig,
    triggered: Callable[[TextView], bool] | None = None,
) -> bool:
    """True when no detector can match in any string of the parsed document (keys, values, and the JSON
    documents held in strings, `decode.json_max_depth` levels down): no keyed field name, no long number,
    no base64 blob that decodes (when `decode.base64`), and no decoding layer `triggered`.
    The full scan joins a subset of these same strings with the same separator, so no match here means no
    match there; anything else goes the full way (which maps each finding back to its bytes)."""
    parts: list[str] = []
    stack: list[tuple[object, int]] = [(doc, decode.json_max_depth)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, str):
            if level > 0 and node[:1] in _DOC_START and node.rstrip()[-1:] in ("}", "]"):
                nested = parse(node)
                if nested is not None:
                    stack.append((nested, level - 1))
                    continue
            parts.append(node if node.isascii() else fold(node)[0])
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and prefilter.keyed(key):
                    return False  # a keyed detector judges this value by its name: the slow path decides
                parts.append(key if key.isascii() else fold(key)[0])
                stack.append((value, level))
        elif isinstance(node, list):
            joined = _plain_strings(node, level)
            if joined is not None:
                parts.append(joined)
            else:
                stack.extend((item, level) for item in node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= _LONG_INT:
            return False
    view = TextView(SEPARATOR.join(parts))
    if any(next(d.find(view), None) is not None for d in prefilter.candidates(view)):
        return False  # the same detectors on the same joined text as the full scan's: it would find this
    if decode.base64 and view.has(*BLOB_RUN) and _decodable_blob(view.text, decode):
        return False
    return not (triggered is not None and triggered(view))


def _plain_strings(items: list[object], level: int) -> str | None:
    """An array of ASCII strings none of which may hold a JSON document, joined at C speed: what its
    strings would add to `parts` one by one (a MiB of `"ab",` is 200,000 of them). None for any other."""
    if not items:
        return None
    try:
        joined = SEPARATOR.join(items)  # type: ignore[arg-type]  # a TypeError says: not all strings
    except TypeError:
        return None
    if not joined.isascii():
        return None
    if level > 0 and (joined[:1] in _DOC_START or any(SEPARATOR + c in joined for c in _DOC_START)):
        return None
    return joined


def _decodable_blob(text: str, decode: DecodeConfig) -> bool:
    """Does a base64 run in text decode to something worth scanning? (Model names are runs too.)"""
    for s, e in blob_spans(text, decode.base64_min_length):
        raw = decode_base64(text[s:e])
        if raw is not None and blob_text(raw, decode) is not None:
            return True
    return False
