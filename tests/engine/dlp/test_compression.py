"""The incremental Content-Encoding decoder used for streamed bodies."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from palaryn_proxy.dlp import ContentDecodingError, StreamDecoder, decode_body

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

DATA = b'data: {"choices": [{"delta": {"content": "hello"}}]}\n\n' * 500
ENCODED = {
    "gzip": gzip.compress(DATA),
    "deflate": zlib.compress(DATA),
    "br": brotli.compress(DATA),
    "zstd": zstd.compress(DATA),
    "gzip, br": brotli.compress(gzip.compress(DATA)),
    "identity": DATA,
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_chunked_decoding_round_trips(encoding: str) -> None:
    data = ENCODED[encoding]
    d = StreamDecoder(encoding)
    out = b"".join(d.feed(data[i : i + 37]) for i in range(0, len(data), 37)) + d.flush()
    assert out == DATA
    assert decode_body(data, encoding.upper(), 1 << 20).data == DATA


def test_raw_deflate_is_accepted() -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = raw.compress(DATA) + raw.flush()
    assert decode_body(data, "deflate", 1 << 20).data == DATA


def test_decompression_bomb_is_capped_before_expanding() -> None:
    bomb = decode_body(gzip.compress(b"\0" * (20 << 20)), "gzip", max_output=1 << 20)
    assert bomb.oversize and len(bomb.data) == 1 << 20
    d = StreamDecoder("br", max_output=1 << 20)
    assert len(d.feed(brotli.compress(b"\0" * (20 << 20)))) == 1 << 20 and d.oversize


def test_bad_data_and_unknown_encodings() -> None:
    bad = decode_body(b"not gzip at all", "gzip", 1 << 20)
    assert bad.undecodable and bad.data == b"not gzip at all" and bad.problem
    with pytest.raises(ContentDecodingError):
        StreamDecoder("gzip").feed(b"not gzip at all")
    with pytest.raises(ContentDecodingError, match="unsupported"):
        StreamDecoder("compress")
