"""Content-Encoding decoding (gzip, deflate, br, zstd, stacked), capped while it runs and lenient as servers are."""

from __future__ import annotations

import sys
import zlib
from abc import ABC, abstractmethod

import brotli

from ..errors import PalarynError
from ..types import DecodedBody

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

SLICE = 16 * 1024  # input fed per step: damage loses at most one step's output, not the body's
MAX_GZIP_HEADER = 1 << 20  # FEXTRA, FNAME and FCOMMENT together; a longer header is damage
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2
_ZSTD_WINDOW_LOG = (23, 27)  # RFC 9659: HTTP decoders accept windows up to 8 MiB; zstd's own default max


class ContentDecodingError(PalarynError, ValueError):
    """The body is not valid for its Content-Encoding (nothing decoded), or the encoding is unknown."""


class _Damaged(Exception):
    pass


class _Codec(ABC):
    """One layer. feed() returns at most limit + 1 bytes (more than `limit` means the cap is passed).
    Damage after some output stops the layer (`problem` says why) instead of raising: a lenient server
    would have passed on what decoded before it."""

    name = ""

    def __init__(self) -> None:
        self.problem: str | None = None
        self.produced = False

    def feed(self, data: bytes, limit: int) -> bytes:
        if self.problem is not None:
            return b""
        out: list[bytes] = []  # steps append here, so output before damage survives the exception
        view, size = memoryview(data), 0
        try:
            for i in range(0, len(view), SLICE):
                n = len(out)
                self._step(view[i : i + SLICE], limit + 1 - size, out)
                size += sum(map(len, out[n:]))
                if size > limit:
                    break
        except (zlib.error, brotli.error, zstd.ZstdError, EOFError, _Damaged) as exc:
            self.problem = f"{self.name} data damaged: {exc}"
            if not self.produced and not any(out):
                raise ContentDecodingError(f"invalid {self.name} data: {exc}") from None
        self.produced = self.produced or any(out)
        return b"".join(out)

    def close(self) -> None:
        """End of the body: note data that ends early (what decoded is kept)."""
        if self.problem is None and self._unfinished():
            self.problem = f"{self.name} data ends early"

    @abstractmethod
    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        """Decode `data` into `out`, at most `room` bytes."""

    def _unfinished(self) -> bool:
        return False


def gzip_header_size(head: bytes | bytearray) -> int | None:
    """The size of the RFC 1952 member header at the start of `head`; None: incomplete; -1: not a header."""
    if head[:3] != b"\x1f\x8b\x08"[: len(head)]:
        return -1
    if len(head) < 10:
        return None
    flags, pos = head[3], 10
    if flags & _FEXTRA:
        if len(head) < pos + 2:
            return None
        pos += 2 + int.from_bytes(head[pos : pos + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            end = head.find(b"\0", pos)
            if end < 0:
                return None
            pos = end + 1
    pos += 2 if flags & _FHCRC else 0
    return pos if len(head) >= pos else None


class _Gzip(_Codec):
    """Members read as a lenient server reads them: the header parsed here, the raw deflate inflated,
    CRC32 and ISIZE never checked, members concatenated, bytes that start no member ignored."""

    name = "gzip"

    def __init__(self) -> None:
        super().__init__()
        self._head = bytearray()
        self._d: zlib._Decompress | None = None
        self._trailer = 0  # trailer bytes of the last member still to skip
        self._members = 0
        self._ignoring = False

    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        while data and not self._ignoring and room > 0:  # zlib reads a max_length of 0 as no limit
            if self._trailer:
                n = min(self._trailer, len(data))
                self._trailer, data = self._trailer - n, data[n:]
            elif self._d is None:
                self._head += data
                size = gzip_header_size(self._head)
                if size is None:
                    if len(self._head) > MAX_GZIP_HEADER:
                        raise _Damaged("gzip header too long")
                    break
                if size < 0:
                    if not self._members:
                        raise _Damaged("no gzip header")
                    self._ignoring = True
                    self.problem = "bytes after the last gzip member ignored"
                    break
                data = memoryview(bytes(self._head[size:]))
                self._head.clear()
                self._d, self._members = zlib.decompressobj(-zlib.MAX_WBITS), self._members + 1
            else:
                piece = self._d.decompress(data, room)
                out.append(piece)
                room -= len(piece)
                if not self._d.eof:
                    break  # all input taken, or the room is full
                data, self._d, self._trailer = memoryview(self._d.unused_data), None, 8

    def _unfinished(self) -> bool:
        return self._d is not None

    def close(self) -> None:
        if self.problem is None and not self._members and self._head:
            raise ContentDecodingError("invalid gzip data: incomplete header")
        super().close()


class _Deflate(_Codec):
    """zlib-wrapped deflate (RFC 1950) or, as often sent, raw deflate, told apart by the first two bytes;
    both inflated raw, so the Adler-32 trailer is never checked."""

    name = "deflate"

    def __init__(self) -> None:
        super().__init__()
        self._start = b""
        self._d: zlib._Decompress | None = None

    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        if self._d is None:
            self._start += data
            if len(self._start) < 2:
                return
            cmf, flg = self._start[0], self._start[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            data, self._start = memoryview(self._start[2 if wrapped else 0 :]), b""
        out.append(self._d.decompress(data, room))

    def _unfinished(self) -> bool:
        return self._d is not None and not self._d.eof


class _Brotli(_Codec):
    name = "br"

    def __init__(self) -> None:
        super().__init__()
        self._d = brotli.Decompressor()
        self._fed = False

    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        self._fed = True
        out.append(bytes(self._d.process(data, output_buffer_limit=room)))  # may overshoot: the chain cuts

    def _unfinished(self) -> bool:
        return self._fed and not self._d.is_finished()


class _Zstd(_Codec):
    """Concatenated frames; windows larger than the cap needs (at least 8 MiB) are refused."""

    name = "zstd"

    def __init__(self, max_output: int) -> None:
        super().__init__()
        low, high = _ZSTD_WINDOW_LOG
        self._options: dict[int, int] = {  # int keys: the stub takes Mapping[int, int], invariant in its key
            zstd.DecompressionParameter.window_log_max: min(high, max(low, max_output.bit_length()))
        }
        self._d = zstd.ZstdDecompressor(options=self._options)
        self._open = False  # a frame has begun and not ended

    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        size = 0
        while True:
            self._open = self._open or bool(data)
            piece = self._d.decompress(data, room - size)
            out.append(piece)
            size += len(piece)
            if size >= room:
                break
            if self._d.eof:
                data, self._open = memoryview(self._d.unused_data), False
                self._d = zstd.ZstdDecompressor(options=self._options)
                if not data:
                    break
            elif self._d.needs_input:
                break
            else:
                data = memoryview(b"")

    def _unfinished(self) -> bool:
        return self._open


class _Identity(_Codec):
    name = "identity"

    def feed(self, data: bytes, limit: int) -> bytes:
        return data if len(data) <= limit else data[: limit + 1]  # unencoded streams pass uncopied

    def _step(self, data: memoryview, room: int, out: list[bytes]) -> None:
        out.append(bytes(data[:room]))  # not reached: feed passes the bytes through as they are


def encodings(content_encoding: str) -> list[str]:
    """The codings of a Content-Encoding value, in the order they were applied."""
    return [n.strip().lower() for n in content_encoding.split(",") if n.strip()]


def _make(name: str, max_output: int) -> _Codec:
    if name in ("gzip", "x-gzip"):
        return _Gzip()
    if name == "deflate":
        return _Deflate()
    if name == "br":
        return _Brotli()
    if name == "zstd":
        return _Zstd(max_output)
    if name == "identity":
        return _Identity()
    raise ContentDecodingError(f"unsupported Content-Encoding {name!r}")


def supported(content_encoding: str) -> bool:
    return all(
        n in ("gzip", "x-gzip", "deflate", "br", "zstd", "identity") for n in encodings(content_encoding)
    )


class StreamDecoder:
    """Decode a body chunk by chunk, stacked encodings (`gzip, br`) undone in reverse order.

    Never holds or returns more than `max_output` decoded bytes: every layer's output is capped while it
    inflates, so a decompression bomb never expands in memory past the cap. Past it, the output ends at
    exactly `max_output` bytes, `oversize` is set and later chunks yield nothing (a body with nothing to
    decode, identity only, is not capped: it never inflates). Damage after some output ends the output
    there with `problem` set. Raises ContentDecodingError for an unknown encoding, or when the data is not
    valid for its encoding before anything decoded.
    """

    def __init__(self, content_encoding: str, max_output: int = 64 << 20) -> None:
        self._chain = [_make(n, max_output) for n in reversed(encodings(content_encoding))]
        inflates = any(not isinstance(c, _Identity) for c in self._chain)
        self._left = max_output if inflates else sys.maxsize
        self.oversize = False

    @property
    def problem(self) -> str | None:
        return next((c.problem for c in self._chain if c.problem), None)

    def feed(self, data: bytes) -> bytes:
        return self._run(data, end=False)

    def flush(self) -> bytes:
        """Whatever is still buffered at the end of the body."""
        return self._run(b"", end=True)

    def _run(self, data: bytes, end: bool) -> bytes:
        if self.oversize:
            return b""
        for codec in self._chain:
            data = codec.feed(data, self._left)
            if end:
                codec.close()
            if len(data) > self._left:  # later layers still decode the capped prefix
                data, self.oversize = data[: self._left], True
        self._left -= len(data)
        return data


def decode_body(data: bytes, content_encoding: str, max_output: int) -> DecodedBody:
    """Decode a whole body, leniently and never past `max_output` bytes (then `oversize`: a prefix).
    A body that decodes to nothing at all keeps its bytes as sent (`undecodable`, with the cause)."""
    if not data or all(n == "identity" for n in encodings(content_encoding)):
        return DecodedBody(data, content_encoding, data)
    try:
        d = StreamDecoder(content_encoding, max_output)
        out = d.feed(data)
        tail = d.flush()
    except ContentDecodingError as exc:
        return DecodedBody(data, content_encoding, data, undecodable=True, problem=str(exc))
    return DecodedBody(
        data, content_encoding, out + tail if tail else out, oversize=d.oversize, problem=d.problem
    )
