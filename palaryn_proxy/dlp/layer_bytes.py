"""Decoded bytes (of base64, hex) to text: UTF-8, or compressed (gzip, zlib, raw deflate, zstd), or UTF-16/32."""

from __future__ import annotations

import zlib

from .compression import ContentDecodingError, StreamDecoder
from .wide import decode, detect

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
# Formats whose bytes are never text nor compressed text worth inflating: skip the raw-deflate guess.
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"RIFF", b"PK\x03\x04", b"\x00\x00\x01\x00")


def as_text(raw: bytes, min_printable: float) -> str | None:
    """raw as UTF-8 text, if it is and at least `min_printable` of its characters are printable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and _printable(text, min_printable) else None


def _printable(text: str, share: float) -> bool:
    if text.isascii() and text.isprintable():
        return True
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
    return printable >= share * len(text)


def bytes_text(
    raw: bytes, room: int, compressed: bool = True, wide: bool = True, min_printable: float = 0.95
) -> tuple[str, int] | None:
    """The text raw holds and how many bytes decoding produced on the way (what counts against a budget):
    UTF-8 as it is; else, with `compressed`, the text of its gzip / zlib / zstd / raw deflate data (at most
    `room` bytes inflated, one level); else, with `wide`, UTF-16 or UTF-32 told by a BOM or NUL bytes."""
    text = as_text(raw, min_printable)
    if text is not None:
        return text, 0
    if compressed and room > 0:
        inflated = inflate(raw, room)
        if inflated:
            text = as_text(inflated, min_printable) or (wide_text(inflated, min_printable) if wide else None)
            if text is not None:
                return text, len(inflated)
    if wide:
        text = wide_text(raw, min_printable)
        if text is not None:
            return text, 0
    return None


def inflate(raw: bytes, room: int) -> bytes | None:
    """What the compressed data in raw decodes to (at most `room` bytes, damage after some output is
    tolerated as a lenient server tolerates it); None when raw is not compressed data."""
    if raw.startswith(_GZIP):
        return _decode(raw, "gzip", room)
    if raw.startswith(_ZSTD):
        return _decode(raw, "zstd", room)
    if len(raw) > 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0:
        return _decode(raw, "deflate", room)  # zlib-wrapped (RFC 1950)
    if len(raw) < 8 or (raw[0] >> 1) & 3 == 3 or raw.startswith(_BINARY_MAGIC):
        return None  # block type 3 is invalid: not raw deflate
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, room)
    except zlib.error:
        return None
    # raw deflate has no header: take it only when the stream ended cleanly or filled the room
    return out if out and (d.eof or len(out) >= room) else None


def _decode(raw: bytes, encoding: str, room: int) -> bytes | None:
    try:
        d = StreamDecoder(encoding, room)
        out = d.feed(raw)
        return out + d.flush()
    except ContentDecodingError:
        return None


def wide_text(raw: bytes, min_printable: float = 0.95) -> str | None:
    """raw as UTF-16 / UTF-32 text, told by a BOM or where its NUL bytes are (wide.detect), if printable."""
    found = detect(raw, "")
    decoded = decode(raw, found) if found is not None else None
    text = decoded[0] if decoded is not None else None
    return text if text and _printable(text, min_printable) else None
