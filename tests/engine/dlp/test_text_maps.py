"""Decoding layers and their offset maps: every character of the decoded text leads back to its source."""

from __future__ import annotations

import json
import random
import re
import unicodedata

from palaryn_proxy.dlp import normalize
from palaryn_proxy.dlp.jsonscan import unescape
from palaryn_proxy.dlp.normalize import decode_utf8, fold
from palaryn_proxy.dlp.offsets import MapBuilder, OffsetMap
from palaryn_proxy.dlp.sources import percent_decode


def _spans(m: OffsetMap | None, n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) if m is None else (m.start(i), m.end(i + 1)) for i in range(n)]


def test_utf8_map_points_at_each_characters_bytes() -> None:
    text = "a é 中 😀 x"
    data = text.encode() + b"\xff"
    out, m = decode_utf8(data)
    assert out == text + "\udcff"
    assert [data[s:e].decode("utf-8", "surrogateescape") for s, e in _spans(m, len(out))] == list(out)


def test_fold_maps_folded_characters_to_their_originals() -> None:
    src = "ｇｈｐ\u200b＿tоkеn 𝐀 ﬁ"  # full-width, zero-width, Cyrillic о/е, math bold A, ligature
    out, m = fold(src)
    assert out == "ghp_token A fi"
    assert m is not None
    assert src[m.start(0) : m.end(4)] == "ｇｈｐ\u200b＿"  # the dropped zero-width sits inside the span
    assert src[m.start(len(out) - 2) : m.end(len(out))] == "ﬁ"
    assert fold("plain ascii") == ("plain ascii", None)
    assert fold("naïve 中文")[1] is None  # already NFKC, nothing special: no map


def test_json_unescape_round_trip_random() -> None:
    rnd = random.Random(5)
    alphabet = 'ab"\\/\n\t\x01é中😀'
    for _ in range(200):
        value = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
        raw = json.dumps(value)[1:-1]
        out, m = unescape(raw)
        assert out == value
        for i, (s, e) in enumerate(_spans(m, len(out))):
            assert json.loads('"' + raw[s:e] + '"') == out[i]


def test_percent_decode_maps_triplets() -> None:
    raw = "a+b%20%C3%A9%E4%B8%AD%zz"
    out, m = percent_decode(raw, plus=True)
    assert out == "a b é中%zz"
    assert [raw[s:e] for s, e in _spans(m, len(out))][3:7] == ["%20", "%C3%A9", "%E4%B8%AD", "%"]


def test_atomic_and_scaled_pieces() -> None:
    m = OffsetMap()
    m.add(10, 6, 1, 0)  # an escape: 6 source chars -> 1
    m.add(16, 9, 3, 3)  # three 3-byte characters
    assert (m.start(0), m.end(1)) == (10, 16)
    assert (m.start(1), m.end(3)) == (16, 22)
    assert m.end(4) == 25


# -- the bulk-built maps against the piece-by-piece construction they replaced -----------------------------

_WIDTH_RUNS = re.compile(
    "([\x00-\x7f\udc80-\udcff]++)|([\x80-\u07ff]++)|([\u0800-\udc7f\udd00-\uffff]++)|([\U00010000-\U0010ffff]++)"
)


def _decode_by_runs(data: bytes) -> tuple[str, OffsetMap | None]:
    text = data.decode("utf-8", "surrogateescape")
    if len(text) == len(data):
        return text, None
    b = MapBuilder()
    pos = 0
    for m in _WIDTH_RUNS.finditer(text):
        b.copy(m.group(), pos, m.lastindex or 1)
        pos += len(m.group()) * (m.lastindex or 1)
    return b.build()


def _fold_by_runs(text: str) -> tuple[str, OffsetMap | None]:
    if text.isascii():
        return text, None
    b: MapBuilder | None = None
    pos = 0
    for m in re.finditer("[^\x00-\x7f]++", text):
        run = m.group()
        if unicodedata.is_normalized("NFKC", run) and not normalize._SPECIAL_RE.search(run):
            continue
        if b is None:
            b = MapBuilder()
        b.copy(text[pos : m.start()], pos)
        at = 0
        for t in normalize.TAG_RUN.finditer(run):
            normalize._fold_chars(b, run[at : t.start()], m.start() + at)
            normalize._tags(b, t.group(), m.start() + t.start())
            at = t.end()
        normalize._fold_chars(b, run[at:], m.start() + at)
        pos = m.end()
    if b is None:
        return text, None
    b.copy(text[pos:], pos)
    return b.build()


def _same_map(got: OffsetMap | None, want: OffsetMap | None, n: int) -> None:
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert [got.start(i) for i in range(n + 1)] == [want.start(i) for i in range(n + 1)]
        assert [got.end(j) for j in range(n + 1)] == [want.end(j) for j in range(n + 1)]


_PIECES = ["a", "b ", "\u200b", "é", "e\u0301", "中", "😀", "ｇ", "ﬁ", "о", "\u00ad", "\ufeff", "𝐀", "Ⅻ", "x"]
_TAGS = "".join(chr(0xE0000 + ord(c)) for c in "ghp_secret")


def test_bulk_maps_match_the_piece_by_piece_maps() -> None:
    rnd = random.Random(11)
    for _ in range(400):
        text = "".join(rnd.choice([*_PIECES, _TAGS, _TAGS[:3]]) for _ in range(rnd.randint(1, 40)))
        got, want = fold(text), _fold_by_runs(text)
        assert got[0] == want[0], text
        _same_map(got[1], want[1], len(got[0]))
        data = text.encode("utf-8", "surrogatepass")[: rnd.randint(1, 200)] + rnd.choice(
            [b"", b"\xff", b"\xe4\xb8"]
        )
        got, want = decode_utf8(data), _decode_by_runs(data)
        assert got[0] == want[0]
        _same_map(got[1], want[1], len(got[0]))
    long = ("a\u200b" * 5000) + "ghp_" + "é" * 3000
    got, want = decode_utf8(long.encode()), _decode_by_runs(long.encode())
    _same_map(got[1], want[1], len(got[0]))
    got, want = fold(long), _fold_by_runs(long)
    assert got[0] == want[0]
    _same_map(got[1], want[1], len(got[0]))
