"""The incremental framers: SSE, NDJSON, streamed JSON array and AWS eventstream."""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pytest

from palaryn_proxy.providers.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    decode_message,
    encode_message,
)
from palaryn_proxy.providers.frames import Frame
from palaryn_proxy.providers.jsonarray import JSONArrayDecoder
from palaryn_proxy.providers.ndjson import NDJSONDecoder
from palaryn_proxy.providers.sse import SSEDecoder


def feed_bytewise(
    decoder: SSEDecoder | NDJSONDecoder | JSONArrayDecoder | EventStreamDecoder, data: bytes
) -> list[Frame]:
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += decoder.feed(data[i : i + 1])
    return frames + decoder.close()


# --- SSE ------------------------------------------------------------------------------------------

SSE_STREAM = (
    b": keep-alive comment\r\n"
    b"retry: 3000\r\n"
    b"\r\n"
    b"event: message_start\r\n"
    b"id: 7\r\n"
    b'data: {"a":\r\n'
    b"data:  1}\r\n"
    b"\r\n"
    b"event: ping\n"
    b"data: {}\n"
    b"\n"
    b"data:no-space\r"
    b"\r"
    b"data: [DONE]\n\n"
)
SSE_FRAMES = [
    Frame("message_start", b'{"a":\n 1}'),
    Frame("ping", b"{}"),
    Frame(None, b"no-space"),
    Frame(None, b"[DONE]"),
]


def test_sse_whole_and_bytewise() -> None:
    assert SSEDecoder().feed(SSE_STREAM) == SSE_FRAMES
    assert feed_bytewise(SSEDecoder(), SSE_STREAM) == SSE_FRAMES


def test_sse_crlf_split_between_chunks_is_one_line_break() -> None:
    decoder = SSEDecoder()
    frames = decoder.feed(b"data: x\r") + decoder.feed(b"\n\r") + decoder.feed(b"\ndata: y\n\n")
    assert frames == [Frame(None, b"x"), Frame(None, b"y")]


def test_sse_last_event_without_blank_line_is_delivered_at_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"usage": 1}') == []
    assert not decoder.at_boundary
    assert decoder.close() == [Frame(None, b'{"usage": 1}')]


def test_sse_at_boundary() -> None:
    decoder = SSEDecoder()
    assert decoder.at_boundary
    decoder.feed(b"data: {}\n")
    assert not decoder.at_boundary
    decoder.feed(b"\n: ping\n")
    assert decoder.at_boundary


def test_sse_oversized_event_is_dropped_and_decoding_resumes() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    data = b"data: " + b"x" * 300 + b"\n\ndata: ok\n\n"
    frames = decoder.feed(data[:50]) + decoder.feed(data[50:200]) + decoder.feed(data[200:])
    assert frames == [Frame(None, b"ok")]
    assert decoder.problem == "sse line too large"
    decoder = SSEDecoder(max_event_bytes=100)
    many_lines = b"".join(b"data: " + b"y" * 40 + b"\n" for _ in range(5)) + b"\ndata: ok\n\n"
    assert decoder.feed(many_lines) == [Frame(None, b"ok")]
    assert decoder.problem == "sse event too large"


# --- NDJSON ---------------------------------------------------------------------------------------


def test_ndjson_lines_across_chunks() -> None:
    data = b'{"a":1}\r\n\n{"b":2}\n{"c":3}'
    expected = [Frame(None, b'{"a":1}'), Frame(None, b'{"b":2}'), Frame(None, b'{"c":3}')]
    assert feed_bytewise(NDJSONDecoder(), data) == expected
    decoder = NDJSONDecoder()
    assert decoder.feed(data) + decoder.close() == expected


def test_ndjson_oversized_line_is_dropped() -> None:
    decoder = NDJSONDecoder(max_line_bytes=10)
    frames = decoder.feed(b'{"x":"' + b"a" * 20) + decoder.feed(b'"}\n{"ok":1}\n')
    assert frames == [Frame(None, b'{"ok":1}')]
    assert decoder.problem == "ndjson line too large"


# --- JSON array -----------------------------------------------------------------------------------

TRICKY = [{"t": 'brackets ] } [ { and "quotes" and \\ backslash \\"'}, {"n": [1, [2, {"d": {}}]]}, {"e": ""}]


def test_json_array_elements_with_tricky_strings() -> None:
    data = json.dumps(TRICKY, indent=2).replace("},", "}\n,\r\n").encode()
    for frames in (JSONArrayDecoder().feed(data), feed_bytewise(JSONArrayDecoder(), data)):
        assert [json.loads(f.data) for f in frames] == TRICKY


def test_json_array_state_and_unclosed_array() -> None:
    decoder = JSONArrayDecoder()
    assert decoder.at_boundary and not decoder.opened
    frames = decoder.feed(b'[{"a": 1}, {"b": "')
    assert [f.data for f in frames] == [b'{"a": 1}']
    assert decoder.opened and decoder.count == 1 and not decoder.at_boundary
    decoder.close()
    assert decoder.problem == "json array not closed"


def test_json_array_top_level_object_is_one_frame() -> None:
    body = b'{"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}'
    decoder = JSONArrayDecoder()
    assert [f.data for f in decoder.feed(body)] == [body]
    assert decoder.closed and decoder.problem is None


def test_json_array_oversized_element_is_dropped() -> None:
    decoder = JSONArrayDecoder(max_object_bytes=50)
    data = b'[{"big": "' + b"z" * 200 + b'"}, {"ok": 1}]'
    assert [f.data for f in feed_bytewise(decoder, data)] == [b'{"ok": 1}']
    assert decoder.problem == "json array element too large"


# --- AWS eventstream: the official test vectors (aws-sdk-js-v3 eventstream-marshaller) ----------------

VECTORS = {
    "empty_message": [0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255],
    "int32_header": [0, 0, 0, 43, 0, 0, 0, 14, 52, 139, 236, 123, 8, 101, 118, 101, 110, 116, 45, 105, 100, 4, 0,
                     0, 160, 12, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125, 211, 137, 2, 133],
    "payload_no_headers": [0, 0, 0, 29, 0, 0, 0, 0, 253, 82, 140, 90, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97,
                           114, 39, 125, 195, 101, 57, 54],
    "payload_one_str_header": [0, 0, 0, 61, 0, 0, 0, 32, 7, 253, 131, 150, 12, 99, 111, 110, 116, 101, 110, 116,
                               45, 116, 121, 112, 101, 7, 0, 16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111,
                               110, 47, 106, 115, 111, 110, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39,
                               125, 141, 156, 8, 177],
}  # fmt: skip
CORRUPTED = {
    "corrupted_headers": (VECTORS["payload_one_str_header"], 20, 43),  # '-' -> '+': message CRC fails
    "corrupted_header_len": (VECTORS["payload_one_str_header"], 6, 1),  # prelude CRC fails
    "corrupted_length": (VECTORS["payload_no_headers"], 0, 1),  # prelude CRC fails
    "corrupted_payload": (VECTORS["payload_no_headers"], 24, 141),  # message CRC fails
}


def test_eventstream_official_vectors() -> None:
    assert decode_message(bytes(VECTORS["empty_message"])) == ({}, b"")
    assert decode_message(bytes(VECTORS["int32_header"])) == ({"event-id": 0x0000A00C}, b"{'foo':'bar'}")
    assert decode_message(bytes(VECTORS["payload_no_headers"])) == ({}, b"{'foo':'bar'}")
    one = decode_message(bytes(VECTORS["payload_one_str_header"]))
    assert one == ({"content-type": "application/json"}, b"{'foo':'bar'}")
    # our encoder (used for injected error events) produces exactly the official bytes
    assert encode_message({"content-type": "application/json"}, b"{'foo':'bar'}") == bytes(
        VECTORS["payload_one_str_header"]
    )


@pytest.mark.parametrize("name", sorted(CORRUPTED))
def test_eventstream_corrupted_vectors_are_rejected(name: str) -> None:
    vector, index, value = CORRUPTED[name]
    data = bytearray(vector)
    data[index] = value
    with pytest.raises(EventStreamError):
        decode_message(bytes(data))
    decoder = EventStreamDecoder()
    assert decoder.feed(bytes(data)) == []
    decoder.close()
    assert decoder.problem is not None and "crc" in decoder.problem


def _header(name: str, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name.encode() + bytes([kind]) + value


def test_eventstream_all_header_types_are_decoded_or_skipped() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = b"".join(
        [
            _header("t", 0, b""),
            _header("f", 1, b""),
            _header("byte", 2, b"\xff"),
            _header("short", 3, b"\x01\x00"),
            _header("long", 5, (2**40).to_bytes(8, "big")),
            _header("bin", 6, b"\x00\x03abc"),
            _header("ts", 8, (1700000000000).to_bytes(8, "big")),
            _header("uuid", 9, ident.bytes),
            _header(":event-type", 7, b"\x00\x08metadata"),
        ]
    )
    payload = b'{"usage":{}}'
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    body = prelude + zlib.crc32(prelude).to_bytes(4, "big") + headers + payload
    message = body + zlib.crc32(body).to_bytes(4, "big")
    decoded = decode_message(message)
    assert decoded.headers == {
        "t": True, "f": False, "byte": -1, "short": 256, "long": 2**40, "bin": b"abc", "ts": 1700000000000,
        "uuid": ident, ":event-type": "metadata",
    }  # fmt: skip
    assert feed_bytewise(EventStreamDecoder(), message * 2) == [Frame("metadata", payload)] * 2


def test_eventstream_bad_message_crc_drops_one_message_only() -> None:
    good = encode_message({":event-type": "a", ":message-type": "event"}, b"{}")
    bad = bytearray(good)
    bad[-6] ^= 0xFF  # inside the payload
    decoder = EventStreamDecoder()
    frames = decoder.feed(good + bytes(bad) + good)
    assert frames == [Frame("a", b"{}"), Frame("a", b"{}")]
    assert decoder.problem == "eventstream message crc mismatch"


def test_eventstream_exception_and_oversized_and_truncated() -> None:
    exc = encode_message({":message-type": "exception", ":exception-type": "throttlingException"}, b"{}")
    big = encode_message({":event-type": "x"}, b"x" * 500)
    ok = encode_message({":event-type": "ok"}, b"{}")
    decoder = EventStreamDecoder(max_message_bytes=200)
    frames = decoder.feed(exc + big[:100]) + decoder.feed(big[100:] + ok + ok[:5])
    assert frames == [Frame("throttlingException", b"{}", error=True), Frame("ok", b"{}")]
    assert decoder.problem == "eventstream message too large"
    assert not decoder.at_boundary
    decoder = EventStreamDecoder()
    decoder.feed(ok[:-1])
    decoder.close()
    assert decoder.problem == "truncated eventstream message"


def test_default_bound_on_a_huge_line_fed_in_small_chunks() -> None:
    """A 3 MiB event fed 4 KiB at a time is dropped at the 1 MiB bound, linearly, and decoding resumes."""
    huge = b"data: " + b"a" * (3 << 20) + b"\n\ndata: {}\n\n"
    for decoder, tail in ((SSEDecoder(), Frame(None, b"{}")), (NDJSONDecoder(), Frame(None, b"data: {}"))):
        frames = [f for i in range(0, len(huge), 4096) for f in decoder.feed(huge[i : i + 4096])]
        assert frames == [tail] and decoder.problem is not None
    array = JSONArrayDecoder()
    data = b'[{"a": "' + b"b" * (3 << 20) + b'"}, {"ok": 1}]'
    frames = [f for i in range(0, len(data), 4096) for f in array.feed(data[i : i + 4096])]
    assert [f.data for f in frames] == [b'{"ok": 1}'] and array.problem == "json array element too large"
