"""AWS `application/vnd.amazon.eventstream` binary framing: incremental decoder (CRCs checked) and encoder.

A message is: total length (u32) | headers length (u32) | prelude CRC32 | headers | payload | message CRC32,
big-endian; both CRCs are zlib's CRC32 (the first over the 8 prelude bytes, the second over everything
before it). A header is: name length (u8) | name | type (u8) | value, where the value is 0/1 bool (no
bytes), 2 byte, 3 int16, 4 int32, 5 int64, 6 byte array (u16 length), 7 string (u16 length),
8 timestamp (int64 ms), 9 UUID (16 bytes).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from typing import NamedTuple

from .frames import MAX_FRAME_BYTES, Frame

HeaderValue = bool | int | bytes | str | uuid.UUID

_PRELUDE = struct.Struct(">III")
_MIN_MESSAGE = 16  # prelude (12) + message CRC (4)
_FIXED_SIZES = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_INT_FORMATS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


class EventMessage(NamedTuple):
    headers: dict[str, HeaderValue]
    payload: bytes


class EventStreamError(ValueError):
    """A message is malformed (bad CRC, impossible lengths, truncated headers)."""


def parse_headers(raw: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    i, n = 0, len(raw)
    while i < n:
        name_len = raw[i]
        name_end = i + 1 + name_len
        if name_end >= n:
            raise EventStreamError("truncated header")
        name = raw[i + 1 : name_end].decode("utf-8", "replace")
        kind, i = raw[name_end], name_end + 1
        value, i = _header_value(raw, kind, i)
        headers[name] = value
    return headers


def _header_value(raw: bytes, kind: int, i: int) -> tuple[HeaderValue, int]:
    if kind in (0, 1):
        return kind == 0, i
    if kind in _FIXED_SIZES:
        end = i + _FIXED_SIZES[kind]
        if end > len(raw):
            raise EventStreamError("truncated header value")
        if kind == 9:
            return uuid.UUID(bytes=raw[i:end]), end
        return int(struct.unpack(_INT_FORMATS[kind], raw[i:end])[0]), end
    if kind in (6, 7):
        if i + 2 > len(raw):
            raise EventStreamError("truncated header value")
        end = i + 2 + int.from_bytes(raw[i : i + 2], "big")
        if end > len(raw):
            raise EventStreamError("truncated header value")
        value = raw[i + 2 : end]
        return (value.decode("utf-8", "replace") if kind == 7 else value), end
    raise EventStreamError(f"unknown header type {kind}")


def decode_message(message: bytes) -> EventMessage:
    """Decode one complete message (length already known to match), verifying both CRCs."""
    total, headers_len, prelude_crc = _PRELUDE.unpack_from(message)
    if zlib.crc32(message[:8]) != prelude_crc:
        raise EventStreamError("prelude crc mismatch")
    if zlib.crc32(message[:-4]) != int.from_bytes(message[-4:], "big"):
        raise EventStreamError("message crc mismatch")
    if 12 + headers_len > total - 4:
        raise EventStreamError("headers longer than message")
    headers = parse_headers(message[12 : 12 + headers_len])
    return EventMessage(headers, message[12 + headers_len : -4])


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """Encode one message with string headers (enough for the error events the proxy injects)."""
    raw = bytearray()
    for name, value in headers.items():
        name_b, value_b = name.encode(), value.encode()
        raw += bytes([len(name_b)]) + name_b + b"\x07" + len(value_b).to_bytes(2, "big") + value_b
    total = 12 + len(raw) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw))
    body = prelude + zlib.crc32(prelude).to_bytes(4, "big") + bytes(raw) + payload
    return body + zlib.crc32(body).to_bytes(4, "big")


class EventStreamDecoder:
    """Feed bytes cut anywhere; get frames named by `:event-type` (or `:exception-type`, error=True).

    A message failing its prelude CRC means the framing is lost: decoding stops with `problem` set. A
    message failing only its message CRC (or with bad headers) is dropped and decoding continues.
    """

    def __init__(self, max_message_bytes: int = MAX_FRAME_BYTES) -> None:
        self.problem: str | None = None
        self._max = max_message_bytes
        self._buf = bytearray()
        self._need = 0  # total length of the message being collected, once its prelude is read
        self._skip = 0  # bytes still to discard of an oversized message
        self._lost = False

    @property
    def at_boundary(self) -> bool:
        return not self._buf and not self._skip

    def feed(self, chunk: bytes) -> list[Frame]:
        if not chunk or self._lost:
            return []
        if self._skip:
            dropped = min(self._skip, len(chunk))
            self._skip -= dropped
            chunk = chunk[dropped:]
        self._buf += chunk
        out: list[Frame] = []
        while not self._lost:
            if self._skip:
                dropped = min(self._skip, len(self._buf))
                del self._buf[:dropped]
                self._skip -= dropped
                if self._skip:
                    break
            if not self._need:
                if len(self._buf) < 12:
                    break
                self._need = self._read_prelude()
                continue
            if len(self._buf) < self._need:
                break
            message = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = 0
            self._emit(message, out)
        return out

    def close(self) -> list[Frame]:
        if (self._buf or self._skip) and not self._lost and self.problem is None:
            self.problem = "truncated eventstream message"
        self._buf.clear()
        return []

    def _read_prelude(self) -> int:
        total: int
        headers_len: int
        crc: int
        total, headers_len, crc = _PRELUDE.unpack_from(self._buf)
        if zlib.crc32(bytes(self._buf[:8])) != crc:
            return self._lose("eventstream prelude crc mismatch")
        if total < _MIN_MESSAGE or headers_len > total - _MIN_MESSAGE:
            return self._lose("eventstream bad lengths")
        if total > self._max:
            if self.problem is None:
                self.problem = "eventstream message too large"
            self._skip = total
            return 0
        return total

    def _lose(self, problem: str) -> int:
        self._lost = True
        self._buf.clear()
        if self.problem is None:
            self.problem = problem
        return 0

    def _emit(self, message: bytes, out: list[Frame]) -> None:
        try:
            decoded = decode_message(message)
        except EventStreamError as exc:
            if self.problem is None:
                self.problem = f"eventstream {exc}"
            return
        headers = decoded.headers
        kind = headers.get(":message-type", "event")
        if kind == "event":
            name = headers.get(":event-type")
            out.append(Frame(name if isinstance(name, str) else None, decoded.payload))
        else:
            name = headers.get(":exception-type", headers.get(":error-code", kind))
            out.append(Frame(str(name), decoded.payload, error=True))
