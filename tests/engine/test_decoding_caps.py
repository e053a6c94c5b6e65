"""Body decoding: capped while it inflates (every encoding, stacked too), lenient like servers, DLP's size choice."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest

from palaryn_proxy.dlp import DlpConfig, StreamDecoder, decode_body
from palaryn_proxy.dlp.compression import gzip_header_size
from palaryn_proxy.dlp.decoded import plan_body
from palaryn_proxy.providers import ContentDecoder

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,import-not-found,unused-ignore]

CAP = 1 << 20
MIB = bytes(1 << 20)
DATA = b'{"messages": [{"role": "user", "content": "deploy with the staging token"}]}' * 300


def zeros(encoding: str, mib: int) -> bytes:
    """`mib` MiB of zeros in `encoding`, compressed a MiB at a time (the whole never exists)."""
    if encoding in ("gzip", "deflate"):
        co = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
        return b"".join([co.compress(MIB) for _ in range(mib)] + [co.flush()])
    if encoding == "br":
        c = brotli.Compressor(quality=1)
        return b"".join([c.process(MIB) for _ in range(mib)] + [c.finish()])
    c = zstd.ZstdCompressor(level=1)
    return b"".join([c.compress(MIB) for _ in range(mib)] + [c.flush()])


def encode(data: bytes, encoding: str) -> bytes:
    for name in [n.strip() for n in encoding.split(",")]:
        data = {
            "gzip": gzip.compress,
            "deflate": zlib.compress,
            "br": brotli.compress,
            "zstd": zstd.compress,
            "identity": bytes,
        }[name](data)
    return data


BOMBS = ["gzip", "deflate", "br", "zstd", "gzip, gzip", "br, gzip", "zstd, br", "gzip, identity"]


def bomb(encoding: str, mib: int = 64) -> bytes:
    first, *rest = [n.strip() for n in encoding.split(",")]
    return encode(zeros(first, mib), ", ".join(rest)) if rest else zeros(first, mib)


@pytest.mark.parametrize("encoding", BOMBS)
def test_a_bomb_decodes_to_exactly_the_cap_and_no_further(encoding: str) -> None:
    data = bomb(encoding)
    tracemalloc.start()
    got = decode_body(data, encoding, CAP)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got.oversize and got.data == bytes(CAP) and not got.undecodable
    assert peak < 4 * CAP + (1 << 20), f"decoding peaked at {peak} bytes for a {CAP}-byte cap"


@pytest.mark.parametrize("encoding", BOMBS)
def test_the_cap_holds_mid_stream_in_small_chunks(encoding: str) -> None:
    data = bomb(encoding, 16)
    d = StreamDecoder(encoding, CAP)
    sizes = [len(d.feed(data[i : i + 1000])) for i in range(0, len(data), 1000)] + [len(d.flush())]
    assert sum(sizes) == CAP and max(sizes) <= CAP and d.oversize
    assert d.feed(data[:1000]) == b""  # past the cap nothing more is decoded


@pytest.mark.parametrize("encoding", BOMBS)
def test_below_the_cap_every_encoding_and_stack_round_trips(encoding: str) -> None:
    got = decode_body(encode(DATA, encoding), encoding.upper(), CAP)
    assert got.data == DATA and not got.oversize and got.problem is None


def test_the_usage_decoder_shares_the_cap() -> None:
    d = ContentDecoder("gzip, gzip", max_output=CAP)
    data = bomb("gzip, gzip", 16)
    assert sum(len(d.decode(data[i : i + 4096])) for i in range(0, len(data), 4096)) == CAP
    assert d.problem == "decoded stream too large"


def _gzip_with_trailer(crc: int | None = None, size: int | None = None) -> bytes:
    g = gzip.compress(DATA)
    crc = zlib.crc32(DATA) ^ 0xFFFFFFFF if crc is None else crc
    return g[:-8] + crc.to_bytes(4, "little") + (size or len(DATA)).to_bytes(4, "little")


def test_gzip_is_read_like_a_lenient_server() -> None:
    bad_crc = _gzip_with_trailer()
    assert decode_body(bad_crc, "gzip", CAP).data == DATA  # CRC32 and ISIZE are not checked
    assert decode_body(_gzip_with_trailer(size=7), "gzip", CAP).data == DATA
    trailing = decode_body(gzip.compress(DATA) + b"\r\n--garbage--", "gzip", CAP)
    assert trailing.data == DATA and trailing.problem == "bytes after the last gzip member ignored"
    no_trailer = decode_body(gzip.compress(DATA)[:-8], "gzip", CAP)
    assert no_trailer.data == DATA and not no_trailer.undecodable
    short_trailer = decode_body(gzip.compress(DATA)[:-3], "gzip", CAP)
    assert short_trailer.data == DATA
    members = decode_body(gzip.compress(DATA) + gzip.compress(b"tail"), "x-gzip", CAP)
    assert members.data == DATA + b"tail"


def test_a_truncated_body_yields_what_decoded() -> None:
    g = gzip.compress(DATA, compresslevel=1)
    cut = decode_body(g[: len(g) // 2], "gzip", CAP)
    assert 0 < len(cut.data) < len(DATA) and DATA.startswith(cut.data)
    assert cut.problem == "gzip data ends early" and not cut.undecodable


def test_every_optional_gzip_header_field_is_parsed() -> None:
    deflated = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = deflated.compress(DATA) + deflated.flush()
    flags = 2 | 4 | 8 | 16  # FHCRC FEXTRA FNAME FCOMMENT
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    head += (5).to_bytes(2, "little") + b"extra" + b"name.json\0" + b"a comment\0" + b"\xab\xcd"
    assert gzip_header_size(head) == len(head) and gzip_header_size(head[:-1]) is None
    assert gzip_header_size(b"\x1f\x8c") == -1
    body = head + raw + b"\0" * 8
    assert decode_body(body, "gzip", CAP).data == DATA
    d = StreamDecoder("gzip", CAP)  # the header split byte by byte
    assert b"".join(d.feed(body[i : i + 1]) for i in range(len(body))) + d.flush() == DATA


def test_deflate_zlib_or_raw_and_a_bad_checksum() -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert decode_body(raw.compress(DATA) + raw.flush(), "deflate", CAP).data == DATA
    wrapped = zlib.compress(DATA)
    bad_adler = decode_body(wrapped[:-4] + b"\0\0\0\0", "deflate", CAP)
    assert bad_adler.data == DATA and not bad_adler.undecodable  # Adler-32 is not checked


def test_zstd_and_brotli_keep_what_decoded_before_damage() -> None:
    z = decode_body(zstd.compress(DATA) + b"not another frame", "zstd", CAP)
    assert z.data == DATA and z.problem and z.problem.startswith("zstd data damaged")
    assert decode_body(zstd.compress(DATA) * 2, "zstd", CAP).data == DATA * 2
    b = brotli.compress(DATA, quality=1)
    cut = decode_body(b[: len(b) * 3 // 4], "br", CAP)
    assert DATA.startswith(cut.data) and cut.problem == "br data ends early"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd", "compress", "gzip, utf-8"])
def test_a_body_that_does_not_decode_keeps_its_bytes(encoding: str) -> None:
    got = decode_body(b"plain text, mislabelled", encoding, CAP)
    assert got.undecodable and got.data == b"plain text, mislabelled" and got.problem


def test_identity_and_empty_bodies_are_not_copied() -> None:
    body = b"x" * (2 * CAP)  # already in memory as sent: the cap is about inflation
    got = decode_body(body, "identity", CAP)
    assert got.data is body and not got.oversize
    stream = StreamDecoder("", CAP)  # an unencoded stream passes whole, chunk by chunk
    assert stream.feed(body) is body and stream.feed(body) is body and not stream.oversize
    assert decode_body(b"", "gzip", CAP).data == b""


@pytest.mark.parametrize(
    ("oversize", "scanned", "blocked"),
    [("scan_prefix", True, False), ("pass", False, False), ("block", False, True)],
)
def test_the_size_choice_for_a_body_past_the_cap(oversize: str, scanned: bool, blocked: bool) -> None:
    got = decode_body(bomb("gzip", 4), "gzip", CAP)
    plan = plan_body(got, DlpConfig.from_mapping({"oversize": oversize}), "request")
    assert (plan.scan == got.data) is scanned and (plan.block is not None) is blocked
    rules = [r.rule for r in plan.notes] + ([plan.block.rule] if plan.block else [])
    assert rules == ["decoded_oversize"]
    assert (plan.unredactable is not None) is scanned  # a prefix is scanned, never written back


def test_damaged_and_undecodable_bodies_are_flagged() -> None:
    config = DlpConfig()
    undecodable = plan_body(decode_body(b"not gzip", "gzip", CAP), config, "request")
    assert [r.rule for r in undecodable.notes] == ["undecodable_body"] and undecodable.scan == b"not gzip"
    lenient = plan_body(decode_body(gzip.compress(DATA) + b"junk", "gzip", CAP), config, "response")
    assert [r.rule for r in lenient.notes] == ["decoded_leniently"] and lenient.scan == DATA
    assert plan_body(decode_body(gzip.compress(DATA), "gzip", CAP), config, "request").notes == ()
    assert (
        plan_body(decode_body(b"x", "", CAP), DlpConfig.from_mapping({"enabled": False}), "request").scan
        is None
    )
