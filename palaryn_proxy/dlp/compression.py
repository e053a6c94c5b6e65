"""Content-Encoding for streamed bodies: an incremental, size-capped decoder (gzip, deflate, br, zstd)."""

from __future__ import annotations

import sys
import zlib
from typing import Protocol

import brotli  # type: ignore[import-untyped]

from ..errors import PalarynError

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd


class ContentDecodingError(PalarynError, ValueError):
    """The body is not valid for its Content-Encoding, or decodes to more than the allowed size."""


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes: ...


def _too_big() -> ContentDecodingError:
    return ContentDecodingError("decoded body exceeds the allowed size")


class _Zlib:
    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self._raw_fallback = wbits == zlib.MAX_WBITS  # "deflate" is often sent raw (no zlib header)

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._d.decompress(data, limit + 1)
        except zlib.error as e:
            if self._raw_fallback:
                self._d, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
                return self.feed(data, limit)
            raise ContentDecodingError(f"invalid deflate/gzip data: {e}") from None
        self._raw_fallback = False
        if len(out) > limit or self._d.unconsumed_tail:
            raise _too_big()
        return out


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = bytes(self._d.process(data, output_buffer_limit=limit + 1))
        except brotli.error as e:
            raise ContentDecodingError(f"invalid brotli data: {e}") from None
        if len(out) > limit:
            raise _too_big()
        return out


class _Zstd:
    def __init__(self) -> None:
        self._d = zstd.ZstdDecompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        out = b""
        try:
            while data or not self._d.needs_input:
                out += self._d.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_big()
                data = self._d.unused_data if self._d.eof else b""
                if self._d.eof:  # concatenated frames
                    self._d = zstd.ZstdDecompressor()
                elif self._d.needs_input:
                    break
        except zstd.ZstdError as e:
            raise ContentDecodingError(f"invalid zstd data: {e}") from None
        return out


class _Identity:
    def feed(self, data: bytes, limit: int) -> bytes:
        if len(data) > limit:
            raise _too_big()
        return data


def _make(name: str) -> _Decoder:
    if name in ("gzip", "x-gzip"):
        return _Zlib(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if name == "br":
        return _Brotli()
    if name == "zstd":
        return _Zstd()
    if name in ("", "identity"):
        return _Identity()
    raise ContentDecodingError(f"unsupported Content-Encoding {name!r}")


class StreamDecoder:
    """Decode a body chunk by chunk. Stacked encodings (`gzip, br`) are undone in reverse order.

    mitmproxy decodes buffered bodies itself (`message.content`); a streamed body reaches the stream
    callable still encoded. Decode it here, scan and redact the plain bytes, and drop `Content-Encoding`
    in `responseheaders` (re-encoding is not provided).
    Raises ContentDecodingError on bad data or as soon as the output would exceed `max_output` bytes
    (a decompression bomb never expands in memory past the cap)."""

    def __init__(self, content_encoding: str, max_output: int = 64 << 20) -> None:
        names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
        self._chain = [_make(n) for n in reversed(names)]
        self._left = max_output

    def feed(self, data: bytes) -> bytes:
        for d in self._chain:
            data = d.feed(data, self._left)
        self._left -= len(data)
        return data

    def flush(self) -> bytes:
        """Whatever is still buffered at the end of the body."""
        return self.feed(b"")


def decode_body(data: bytes, content_encoding: str, max_output: int = 64 << 20) -> bytes:
    """One-shot decode (the buffered-body counterpart of StreamDecoder)."""
    d = StreamDecoder(content_encoding, max_output)
    return d.feed(data) + d.flush()
