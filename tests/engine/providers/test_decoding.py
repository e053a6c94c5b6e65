"""Incremental Content-Encoding decoding of streamed bodies, chunk boundaries anywhere."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import brotli
import pytest

from palaryn_proxy.providers import ContentDecoder, ProviderRegistry
from palaryn_proxy.types import Usage

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,import-not-found,unused-ignore]

BODY = (Path(__file__).parent / "fixtures" / "anthropic_stream.sse").read_bytes()
RAW_DEFLATE = zlib.compressobj(wbits=-zlib.MAX_WBITS)
ENCODED = {
    "gzip": gzip.compress(BODY),
    "deflate": zlib.compress(BODY),
    "br": brotli.compress(BODY),
    "zstd": zstd.compress(BODY),
    "identity": BODY,
    "": BODY,
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_decodes_in_small_chunks(encoding: str) -> None:
    data = ENCODED[encoding]
    decoder = ContentDecoder(encoding.upper())
    out = b"".join(decoder.decode(data[i : i + 7]) for i in range(0, len(data), 7))
    assert out == BODY and decoder.problem is None


def test_raw_deflate_fallback() -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = compressor.compress(BODY) + compressor.flush()
    decoder = ContentDecoder("deflate")
    assert b"".join(decoder.decode(data[i : i + 50]) for i in range(0, len(data), 50)) == BODY


def test_gzip_stream_through_parser() -> None:
    registry = ProviderRegistry()
    adapter = registry.adapter("anthropic")
    req = adapter.parse_request(
        "POST", "/v1/messages", {}, {}, b'{"model": "claude-sonnet-4-5", "stream": true}'
    )
    assert req is not None
    parser = adapter.stream_parser(req, "text/event-stream; charset=utf-8")
    assert parser is not None
    decoder = ContentDecoder("gzip")
    data = ENCODED["gzip"]
    for i in range(0, len(data), 13):
        parser.feed(decoder.decode(data[i : i + 13]))
    assert parser.finish().usage == Usage(1472, 89, 1000)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_corrupt_input_sets_problem_without_raising(encoding: str) -> None:
    decoder = ContentDecoder(encoding)
    assert decoder.decode(b"\x00garbage-not-compressed" * 10) == b""
    assert decoder.problem is not None and decoder.problem.startswith("content decoding failed")
    assert decoder.decode(b"more") == b""


def test_unsupported_and_stacked_encodings() -> None:
    assert not ContentDecoder.supported("compress") and ContentDecoder.supported("gzip, br")
    decoder = ContentDecoder("gzip, compress")
    assert (
        decoder.decode(b"abc") == b"" and decoder.problem == "unsupported content-encoding 'gzip, compress'"
    )
    stacked = ContentDecoder("gzip, br")
    assert stacked.decode(brotli.compress(gzip.compress(BODY))) == BODY and stacked.problem is None


def test_stream_past_the_cap_stops_with_a_problem() -> None:
    decoder = ContentDecoder("gzip", max_output=1 << 16)
    assert len(decoder.decode(gzip.compress(b"\0" * (1 << 20)))) == 1 << 16
    assert decoder.problem == "decoded stream too large" and decoder.decode(b"more") == b""
