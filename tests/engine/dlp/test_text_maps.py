"""Decoding layers and their offset maps: every character of the decoded text leads back to its source."""

from __future__ import annotations

import json
import random

from palaryn_proxy.dlp.jsonscan import unescape
from palaryn_proxy.dlp.normalize import decode_utf8, fold
from palaryn_proxy.dlp.offsets import OffsetMap
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
