"""The parts of an HTTP message as segments: path, query parameters, headers, and bodies by content type."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .config import DecodeConfig
from .jsonscan import json_segments, parse_ok
from .layers import char_lists, expand
from .normalize import decode_utf8, fold
from .offsets import MapBuilder, OffsetMap
from .segment import Segment
from .wide import Wide, decode, detect

DEFAULT_DECODE = DecodeConfig()

_PCT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})++")
_SKIP_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "host",
                           "accept-encoding", "keep-alive", "te", "upgrade"})  # fmt: skip
_BINARY_TYPES = ("image/", "audio/", "video/", "font/", "application/octet-stream", "application/zip",
                 "application/gzip", "application/x-tar", "application/pdf", "application/wasm",
                 "application/x-protobuf", "application/grpc", "application/vnd.google.protobuf")  # fmt: skip
_BASIC = re.compile(r"^\s*+(?i:basic)\s++([A-Za-z0-9+/]{4,}+={0,2})\s*+$")


def percent_decode(text: str, plus: bool) -> tuple[str, OffsetMap | None]:
    """URL-decode (and `+` to space for forms); each decoded character maps to its %XX triplets."""
    if plus and "+" in text:
        text = text.replace("+", " ")  # same length: positions are unchanged
    if "%" not in text:
        return text, None
    b = MapBuilder()
    pos = 0
    for m in _PCT_RUN.finditer(text):
        b.copy(text[pos : m.start()], pos)
        decoded = bytes.fromhex(m.group().replace("%", "")).decode("utf-8", "surrogateescape")
        i = m.start()
        for ch in decoded:
            n = 3 if 0xDC80 <= ord(ch) <= 0xDCFF else 3 * len(ch.encode("utf-8"))
            b.sub(i, n, ch)
            i += n
        pos = m.end()
    b.copy(text[pos:], pos)
    return b.build()


def _segment(
    raw: str,
    start: int,
    base: tuple[OffsetMap, ...],
    plus: bool,
    *,
    container: str,
    part: str,
    name: str = "",
    key: str | None = None,
    detail: str = "",
) -> Segment:
    decoded, pmap = percent_decode(raw, plus)
    folded, fmap = fold(decoded)
    maps = tuple(m for m in (fmap, pmap) if m) + (OffsetMap.shift(start, len(raw)),) + base
    return Segment(
        text=folded, maps=maps, container=container, part=part, name=name, key=key, quote=True, detail=detail
    )


def urlencoded_segments(
    text: str, offset: int, base: tuple[OffsetMap, ...], container: str, part: str, detail: str, plus: bool
) -> list[Segment]:
    """One segment per `name=value` pair of a query string or form body (the value, keyed by name)."""
    out = []
    pos = offset
    for pair in text[offset:].split("&"):
        name_raw, eq, value = pair.partition("=")
        name = percent_decode(name_raw, plus)[0]
        if eq and value:
            vstart = pos + len(name_raw) + 1
            label = f"{detail}{name}"
            out.append(_segment(value, vstart, base, plus, container=container, part=part, name=name, key=name,
                                detail=label))  # fmt: skip
        elif name_raw:
            out.append(
                _segment(name_raw, pos, base, plus, container=container, part=part, detail=detail or "")
            )
        pos += len(pair) + 1
    return out


def url_segments(path_and_query: str, layers: DecodeConfig | None = DEFAULT_DECODE) -> list[Segment]:
    """The path and each query parameter of a request target (container "path"), and the readings of the
    decoding layers in them (`layers`: the dlp.decode config; None: none)."""
    path, q, _ = path_and_query.partition("?")
    out = [_segment(path, 0, (), False, container="path", part="path")] if path else []
    if q:
        out += urlencoded_segments(path_and_query, len(path) + 1, (), "path", "query", "", plus=True)
    return expand(out, layers) if layers is not None else out


def header_segments(
    headers: Sequence[tuple[str, str]], layers: DecodeConfig | None = DEFAULT_DECODE
) -> list[Segment]:
    """One segment per header value; `Basic` credentials are decoded too; and the layers' readings."""
    out = []
    for i, (name, value) in enumerate(headers):
        if name.lower() in _SKIP_HEADERS or not value:
            continue
        folded, fmap = fold(value)
        seg = Segment(text=folded, maps=(fmap,) if fmap else (), container=f"header:{i}", part="header",
                      name=name, detail=name)  # fmt: skip
        out.append(seg)
        basic = _BASIC.match(value)
        if basic:
            out += basic_credentials(seg, basic.start(1), basic.end(1))
    return expand(out, layers) if layers is not None else out


def basic_credentials(seg: Segment, start: int, end: int) -> list[Segment]:
    from .blobs import decode_blob  # blobs imports segment helpers; keep the cycle out of import time

    child = decode_blob(seg, start, end, min_printable=1.0)
    return [child] if child is not None else []


def is_binary(content_type: str, body: bytes) -> bool:
    ct = content_type.lower()
    if ct.startswith(_BINARY_TYPES):
        return True
    return not ct and b"\x00" in body[:1024]


def body_charset(body: bytes, content_type: str) -> Wide | None:
    """The UTF-16 / UTF-32 encoding of a text body (see wide.detect); None: UTF-8, binary or multipart."""
    ct = content_type.lower()
    if ct.startswith(_BINARY_TYPES) or ct.startswith("multipart/"):
        return None
    return detect(body, ct)


def body_segments(
    body: bytes,
    content_type: str,
    json_depth: int,
    json_keys: bool = True,
    wide: Wide | None = None,
    layers: DecodeConfig | None = DEFAULT_DECODE,
) -> list[Segment]:
    """Segments of a (decoded) body: JSON strings (keys too unless json_keys=False), form values, multipart
    parts, or the whole text, and the readings the decoding layers find in them (`layers`: the dlp.decode
    config; None: none). `wide` (from body_charset) reads the body as UTF-16 or UTF-32."""
    found = _body_segments(body, content_type, json_depth, json_keys, wide, layers)
    return expand(found, layers) if layers is not None else found


def _body_segments(
    body: bytes,
    content_type: str,
    json_depth: int,
    json_keys: bool,
    wide: Wide | None,
    layers: DecodeConfig | None = None,
) -> list[Segment]:
    ct = content_type.lower()
    decoded = decode(body, wide) if wide is not None else None
    if decoded is None and is_binary(ct, body):
        return []
    if ct.startswith("multipart/form-data"):
        boundary = re.search(r'boundary="?([^";]{1,200})', content_type)
        if boundary:
            return multipart_segments(body, boundary.group(1).encode("latin-1", "replace"), json_depth)
    text, umap = decoded or decode_utf8(body)
    base = (umap,) if umap else ()
    out: list[Segment] = []
    if ct.startswith("application/x-www-form-urlencoded"):
        return urlencoded_segments(text, 0, base, "body", "body", "form.", plus=True)
    head = text.lstrip()[:1]
    if ("json" in ct or (head in ("{", "[") and not ct.startswith("text/html"))) and parse_ok(text):
        json_segments(text, base, "body", lambda: "", json_depth, out, keys=json_keys)
        return out + char_lists(text, base, layers) if layers is not None else out
    folded, fmap = fold(text)
    return [Segment(text=folded, maps=((fmap,) if fmap else ()) + base, container="body")]


def multipart_segments(body: bytes, boundary: bytes, json_depth: int) -> list[Segment]:
    out: list[Segment] = []
    delim = b"--" + boundary
    pos = body.find(delim)
    while pos != -1:
        head_start = pos + len(delim)
        nxt = body.find(delim, head_start)
        if nxt == -1 or body[head_start : head_start + 2] == b"--":
            break
        head_end = body.find(b"\r\n\r\n", head_start, nxt)
        if head_end != -1:
            out += _part(
                body, body[head_start:head_end], head_end + 4, nxt - 2 if nxt >= 2 else nxt, json_depth
            )
        pos = nxt
    return out


def _part(body: bytes, head: bytes, start: int, end: int, json_depth: int) -> list[Segment]:
    headers = head.decode("latin-1").lower()
    name_m = re.search(r'name="([^"]{0,200})"', head.decode("utf-8", "replace"))
    ct_m = re.search(r"content-type:\s*+([^\r\n]+)", headers)
    full_ct = ct_m.group(1).strip() if ct_m else ""
    ct = full_ct.partition(";")[0].strip()
    data = body[start:end]
    wide = detect(data, full_ct) if not ct or ct.startswith("text/") or "json" in ct or "xml" in ct else None
    decoded = decode(data, wide) if wide is not None else None
    if decoded is None and (
        is_binary(ct, data) or (ct and not (ct.startswith("text/") or "json" in ct or "xml" in ct))
    ):
        return []
    label = f"multipart.{name_m.group(1) if name_m else ''}"
    shift = OffsetMap.shift(start, len(data))
    text, umap = decoded or decode_utf8(data)
    base = ((umap,) if umap else ()) + (shift,)
    if "json" in ct and parse_ok(text):
        out: list[Segment] = []
        json_segments(text, base, "body", lambda: label + ":", json_depth, out)
        return out
    folded, fmap = fold(text)
    return [Segment(text=folded, maps=((fmap,) if fmap else ()) + base, container="body", detail=label)]
