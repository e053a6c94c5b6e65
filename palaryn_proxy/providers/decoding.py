"""Incremental Content-Encoding decoding of a response stream: the one decoder per stream whose output both
the usage parser and the DLP stream scanner read (palaryn_proxy/usage/stream.py)."""

from __future__ import annotations

from ..dlp.compression import ContentDecodingError, StreamDecoder, supported

_MAX_OUTPUT = 64 << 20  # decoded bytes per stream when the caller names no cap (max_decoded_bytes)


class ContentDecoder:
    """Decode gzip / deflate / br / zstd / identity, stacked too, chunk by chunk (the capped, lenient
    StreamDecoder). decode() never raises: corrupt input, an unsupported encoding or a stream decoding past
    `max_output` sets `problem` and yields nothing more.

    `problem` is what the usage parser reports. The stream's state is also kept apart for the DLP scan:
    `unsupported` (the encoding cannot be decoded at all), `failed` (the data is not valid for it),
    `oversize` (the cap was reached) and `damage` (decoding was lenient; finish() adds data that ends early).
    """

    def __init__(self, content_encoding: str, max_output: int = _MAX_OUTPUT) -> None:
        self.problem: str | None = None
        self.unsupported: str | None = None
        self.failed = self.oversize = False
        self.damage: str | None = None
        self._d: StreamDecoder | None = None
        try:
            self._d = StreamDecoder(content_encoding, max_output)
        except ContentDecodingError as exc:
            self.unsupported = str(exc)
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
            self.problem, self._d, self.failed = f"content decoding failed: {exc}", None, True
            return b""
        self.damage = self._d.problem
        if self._d.oversize:
            self.problem, self._d, self.oversize = "decoded stream too large", None, True
        elif self.damage and self.problem is None:
            self.problem = f"content decoding failed: {self.damage}"  # what decoded before is kept
        return out

    def finish(self) -> None:
        """End of the body: note data that ends early in `damage` (never in `problem`: the usage parser
        judges a truncated stream itself). Decoding buffers nothing a flush could still release."""
        if self._d is None:
            return
        try:
            self._d.flush()
        except ContentDecodingError:  # a gzip header never completed
            self.failed, self._d = True, None
            return
        self.damage = self._d.problem
