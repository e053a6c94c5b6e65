"""A response stream callable that scrubs real credential values from what the client gets. An identity-encoded
stream is scrubbed before the stage that installed the stream (the usage tap: its parser and the DLP scanner)
reads it; a compressed one after that stage, decoded first if it did not decode it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from palaryn_proxy.credentials.scrub import StreamScrubber
from palaryn_proxy.providers.decoding import ContentDecoder

Inner = Callable[[bytes], "bytes | Iterable[bytes]"]


class ScrubbedStream:
    """mitmproxy calls it with each upstream chunk and b"" at the end; it returns the client's bytes (a list,
    empty mid-stream when everything waits in the tail: an empty bytes write could end a chunked body).
    `first`: scrub before `inner` (identity encoding); else after it, through `decoder` when one is given."""

    def __init__(
        self,
        inner: Inner | None,
        decoder: ContentDecoder | None,
        scrubber: StreamScrubber,
        first: bool = False,
    ):
        self.inner, self.decoder, self.scrubber, self.first = inner, decoder, scrubber, first

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        end = not chunk
        if self.first:
            data = self.scrubber.feed(chunk) if chunk else b""
            out = self._inner(data) if data else []  # never b"" to the inner stage before the end
            if end:
                tail = self.scrubber.finish()
                out += (self._inner(tail) if tail else []) + self._inner(b"")
        else:
            out = [self.scrubber.feed(self._decode(p)) for p in self._inner(chunk) if p]
            if end:
                if self.decoder is not None:
                    self.decoder.finish()
                out.append(self.scrubber.finish())
        kept = [p for p in out if p]
        return kept if kept or not end else b""

    @property
    def found(self) -> set[str]:
        return self.scrubber.found

    def _inner(self, chunk: bytes) -> list[bytes]:
        if self.inner is None:
            return [chunk] if chunk else []
        got = self.inner(chunk)
        return [got] if isinstance(got, bytes) else list(got)

    def _decode(self, data: bytes) -> bytes:
        return self.decoder.decode(data) if self.decoder is not None else data
