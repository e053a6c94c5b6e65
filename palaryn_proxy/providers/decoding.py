"""Incremental Content-Encoding decoding for the usage parsers (mitmproxy's stream callable sees raw bytes)."""

from __future__ import annotations

from ..dlp.compression import ContentDecodingError, StreamDecoder, supported

_MAX_OUTPUT = 64 << 20  # decoded bytes per stream when the caller names no cap (max_decoded_bytes)


class ContentDecoder:
    """Decode gzip / deflate / br / zstd / identity, stacked too, chunk by chunk (the capped, lenient
    StreamDecoder). decode() never raises: corrupt input, an unsupported encoding or a stream decoding past
    `max_output` sets `problem` and yields nothing more (bytes still pass through to the client untouched;
    only usage parsing is affected)."""

    def __init__(self, content_encoding: str, max_output: int = _MAX_OUTPUT) -> None:
        self.problem: str | None = None
        self._d: StreamDecoder | None = None
        try:
            self._d = StreamDecoder(content_encoding, max_output)
        except ContentDecodingError:
            self.problem = f"unsupported content-encoding {content_encoding.strip().lower()!r}"

    @staticmethod
    def supported(content_encoding: str) -> bool:
        return supported(content_encoding)

    def decode(self, chunk: bytes) -> bytes:
        if not chunk or self._d is None:
            return b""
        try:
            out = self._d.feed(chunk)
        except ContentDecodingError as exc:
            self.problem, self._d = f"content decoding failed: {exc}", None
            return b""
        if self._d.oversize:
            self.problem, self._d = "decoded stream too large", None
        elif self._d.problem and self.problem is None:
            self.problem = f"content decoding failed: {self._d.problem}"  # what decoded before is kept
        return out
