"""Decompression bombs and damaged encodings through the real proxy: 1 GiB bombs (gzip, br, zstd, stacked) in
requests and responses keep its peak RSS within the decoded-size cap, dlp.oversize decides what passes, and a
secret in a gzip body with a bad CRC or trailing bytes is still redacted."""

from __future__ import annotations

import gzip
import json
import ssl
import zlib
from pathlib import Path

import brotli
import httpx
import pytest
from fakesecrets import github_token

from e2e.harness import Proxy

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,import-not-found,unused-ignore]

CAP = 2 << 20  # max_decoded_bytes in these proxies
GIB = 1 << 30
MIB = bytes(1 << 20)
RSS_BOUND = 4 * CAP + (64 << 20)


TOKEN = github_token("Q7w8E9r0T1y2U3i4O5p6A7s8D9f0Gh")


def gzip_zeros(size: int) -> bytes:
    """A gzip member of `size` zero bytes (about 1/1000 of it), built in a blink: after a full flush deflate
    starts afresh, so every MiB of zeros compresses to the same block."""
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = co.compress(MIB) + co.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(MIB, crc)
    trailer = crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")
    return b"\x1f\x8b\x08\0\0\0\0\0\x02\xff" + block * (size >> 20) + co.flush() + trailer


def brotli_zeros(size: int) -> bytes:
    c = brotli.Compressor(quality=1)
    return b"".join([c.process(MIB) for _ in range(size >> 20)] + [c.finish()])


def zstd_zeros(size: int) -> bytes:
    c = zstd.ZstdCompressor(level=1)
    return b"".join([c.compress(MIB) for _ in range(size >> 20)] + [c.flush()])


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Content-Encoding -> a body of a few KB to a MB that decodes to 1 GiB of zeros."""
    gz = gzip_zeros(GIB)
    return {
        "gzip": gz,
        "br": brotli_zeros(GIB),
        "zstd": zstd_zeros(GIB),
        "gzip, gzip": gzip.compress(gz),
        "br, gzip": gzip.compress(brotli_zeros(GIB)),
    }


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=60, trust_env=False)


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def rules(record: dict) -> list[str]:
    return [r["rule"] for r in record["reasons"] if r["stage"] == "dlp"]


def post(c: httpx.Client, body: bytes, encoding: str, path: str = "/echo") -> httpx.Response:
    headers = {"content-encoding": encoding, "content-type": "application/json"}
    return c.post(f"https://upstream.test{path}", content=body, headers=headers)


def get_raw(c: httpx.Client, url: str) -> tuple[httpx.Response, bytes]:
    """The response body as it came, never decoded here (it may be the bomb)."""
    with c.stream("GET", url) as resp:
        return resp, b"".join(resp.iter_raw())


@pytest.fixture(scope="module")
def capped(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(tmp_path_factory.mktemp("capped"), upstream, shared_certs, {"max_decoded_bytes": CAP})
    yield p
    p.stop()


def test_bombs_keep_the_proxy_within_its_cap(capped, upstream, bombs):
    for name, body in bombs.items():
        upstream.app.serve_fixture(
            f"/bomb/{name}", body, "application/json", chunks=4, headers=[("content-encoding", name)]
        )
    sse = gzip_zeros(GIB)
    upstream.app.serve_fixture(
        "/bomb-sse", sse, "text/event-stream", chunks=64, headers=[("content-encoding", "gzip")]
    )
    with client(capped) as c:
        assert post(c, gzip.compress(b'{"warm": "up"}'), "gzip").status_code == 200
        before = peak_rss(capped.process.pid)
        for name, body in bombs.items():
            seen = len(upstream.app.seen)
            resp = post(c, body, name)
            assert resp.status_code == 200, name
            sent = upstream.app.seen[seen]
            assert sent["body"] == body and sent["headers"]["content-encoding"] == name  # forwarded as sent
            record = capped.record_for(resp.headers["x-palaryn-request-id"])
            assert "decoded_oversize" in rules(record), name

            resp, raw = get_raw(c, f"https://upstream.test/bomb/{name}")
            assert resp.status_code == 200 and raw == body and resp.headers["content-encoding"] == name
            record = capped.record_for(resp.headers["x-palaryn-request-id"])
            assert "decoded_oversize" in rules(record), name

        resp, raw = get_raw(c, "https://upstream.test/bomb-sse")
        assert resp.status_code == 200 and "content-encoding" not in resp.headers
        assert len(raw) <= CAP  # a stream is decoded for scanning and ends at the cap
        record = capped.record_for(resp.headers["x-palaryn-request-id"])
        assert "decoded_oversize" in rules(record)
        growth = peak_rss(capped.process.pid) - before
        print(f"peak RSS growth over {len(bombs) * 2 + 1} 1 GiB bombs: {growth / (1 << 20):.1f} MiB")
        assert growth < RSS_BOUND, f"peak RSS grew {growth >> 20} MiB, bound {RSS_BOUND >> 20} MiB"
        assert c.get("https://upstream.test/echo").status_code == 200  # the proxy still serves


@pytest.mark.parametrize("choice", ["block", "pass"])
def test_the_size_choice_applies_to_bodies_past_the_cap(proxy_factory, upstream, bombs, choice):
    proxy = proxy_factory({"max_decoded_bytes": CAP, "dlp": {"oversize": choice}})
    upstream.app.serve_fixture(
        "/bomb-choice", bombs["br"], "application/json", headers=[("content-encoding", "br")]
    )
    with client(proxy) as c:
        seen = len(upstream.app.seen)
        resp = post(c, bombs["gzip, gzip"], "gzip, gzip")
        reached = any(s["path"] == "/echo" for s in upstream.app.seen[seen:])
        record = proxy.record_for(resp.headers["x-palaryn-request-id"])
        assert "decoded_oversize" in rules(record)
        back, raw = get_raw(c, "https://upstream.test/bomb-choice")
        back_record = proxy.record_for(back.headers["x-palaryn-request-id"])
        assert "decoded_oversize" in rules(back_record)
    if choice == "block":
        assert resp.status_code == 403 and not reached and record["decision"] == "deny"
        assert back.status_code == 403 and back_record["decision"] == "deny"
    else:
        assert resp.status_code == 200 and reached and record["decision"] == "allow"
        assert back.status_code == 200 and raw == bombs["br"]


def test_a_secret_in_the_prefix_of_a_bomb_is_refused_not_forwarded(capped, upstream):
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = json.dumps({"note": f"token={TOKEN}", "pad": ""})[:-2].encode()  # the string stays open
    body = co.compress(head) + b"".join(co.compress(b"a" * (1 << 20)) for _ in range(8)) + co.flush()
    seen = len(upstream.app.seen)
    with client(capped) as c:
        resp = post(c, body, "gzip")
    assert resp.status_code == 403 and not any(s["path"] == "/echo" for s in upstream.app.seen[seen:])
    record = capped.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "deny" and "decoded_oversize" in rules(record)
    assert TOKEN not in json.dumps(record)


def _bad_crc(data: bytes) -> bytes:
    g = gzip.compress(data)
    return g[:-8] + (zlib.crc32(data) ^ 0xFFFFFFFF).to_bytes(4, "little") + g[-4:]


@pytest.mark.parametrize(
    ("damage", "flag"),
    [
        (_bad_crc, None),
        (lambda d: gzip.compress(d) + b"\r\n\r\ntrailing garbage", "decoded_leniently"),
        (lambda d: gzip.compress(d)[:-6], None),  # the content is whole: nothing lost, nothing to flag
        (lambda d: d, "undecodable_body"),  # labelled gzip, sent plain: scanned as sent (as before)
    ],
    ids=["bad-crc", "trailing-garbage", "truncated-trailer", "not-gzip"],
)
def test_a_secret_in_a_damaged_gzip_body_is_redacted(capped, upstream, damage, flag):
    raw = json.dumps({"messages": [{"role": "user", "content": f"deploy with {TOKEN} please"}]}).encode()
    seen = len(upstream.app.seen)
    with client(capped) as c:
        resp = post(c, damage(raw), "gzip")
    assert resp.status_code == 200
    sent = [s for s in upstream.app.seen[seen:] if s["path"] == "/echo"][-1]
    plain = gzip.decompress(sent["body"])  # re-encoded whole by the proxy after the redaction
    assert TOKEN.encode() not in plain and b"deploy with " in plain
    record = capped.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "redact" and any(f["action"] == "redact" for f in record["dlp"])
    if flag:
        assert flag in rules(record)
