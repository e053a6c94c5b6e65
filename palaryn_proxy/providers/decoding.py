"""Incremental Content-Encoding decoding for streamed bodies (mitmproxy's stream callable sees raw bytes)."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import brotli  # type: ignore[import-untyped,unused-ignore]

try:  # Python 3.14+, else the backport mitmproxy already depends on
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the interpreter
    from backports import zstd  # type: ignore[no-redef,import-not-found,unused-ignore]

_MAX_OUTPUT = 64 << 20  # decoded bytes per stream; beyond this the decoder stops (bomb guard)


class ContentDecoder:
    """Decode gzip / deflate / br / zstd / identity chunk by chunk. decode() never raises: corrupt
    input or an unsupported encoding sets `problem` and yields nothing more (bytes still pass through
    to the client untouched; only usage parsing is affected)."""

    def __init__(self, content_encoding: str) -> None:
        self.problem: str | None = None
        self._total = 0
        self._step: Callable[[bytes], bytes] | None = None
        self._raw_fallback = False  # "deflate" is sometimes sent without its zlib header
        encoding = content_encoding.strip().lower()
        if encoding in ("", "identity"):
            self._step = _identity
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._step = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS).decompress
            self._raw_fallback = encoding == "deflate"
        elif encoding == "br":
            self._step = brotli.Decompressor().process
        elif encoding == "zstd":
            self._step = zstd.ZstdDecompressor().decompress
        else:
            self.problem = f"unsupported content-encoding {encoding!r}"

    @staticmethod
    def supported(content_encoding: str) -> bool:
        return content_encoding.strip().lower() in ("", "identity", "gzip", "x-gzip", "deflate", "br", "zstd")

    def decode(self, chunk: bytes) -> bytes:
        if not chunk or self._step is None:
            return b""
        try:
            out = self._step(chunk)
        except (zlib.error, brotli.error, zstd.ZstdError, EOFError, ValueError) as exc:
            if self._raw_fallback and self._total == 0:  # retry as raw deflate
                self._raw_fallback = False
                self._step = zlib.decompressobj(-zlib.MAX_WBITS).decompress
                return self.decode(chunk)
            self.problem, self._step = f"content decoding failed: {type(exc).__name__}", None
            return b""
        self._total += len(out)
        if self._total > _MAX_OUTPUT:
            self.problem, self._step = "decoded stream too large", None
            return b""
        return out


def _identity(chunk: bytes) -> bytes:
    return chunk
