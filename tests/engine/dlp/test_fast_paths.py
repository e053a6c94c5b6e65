"""The cheap paths of the scan (shape gates, keyword groups, run finders, lean JSON strings) find exactly
what the plain scans they stand in for find."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
import sys
from collections.abc import Callable, Iterator
from functools import partial

import pytest
from dlp_fakes import FAKES, fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner, blobs, jsonscan, registry
from palaryn_proxy.dlp.blobs import B64_CHARS, blob_spans
from palaryn_proxy.dlp.detector import _NUMBER_RUN, TextView
from palaryn_proxy.dlp.jsonscan import STRING_RE, json_strings
from palaryn_proxy.dlp.normalize import fold
from palaryn_proxy.dlp.offsets import OffsetMap, to_source
from palaryn_proxy.dlp.registry import ALL_DETECTORS, Prefilter
from palaryn_proxy.dlp.segment import Segment
from palaryn_proxy.dlp.shapes import BASE64, DIGITS, MARK, NUMBERISH, runs, shape

_TRICKY = (
    [  # PII values from corpus/pii.yaml (well-known sample numbers are not findings)
        "4666 1760 3137 2159",
        "5384-8372-6167-5136",
        "+1 (415) 555-2671",
        "(212) 736-5000",
        "whatsapp +4915123456789",
        "SSN 536-22-8114",
        "ssn: 471829316",
        "phone: 020 7946 0958",
        "DE44 5001 0517 5407 3249 31",
        "GB02NWBK60161331926820",
        "jane.doe@acme-corp.io",
        "password=Hunter2!xyz",
        'api_key = "abcd1234efgh5678"',
        "token: AbCdEf1234567890",
        "Authorization: Bearer abcdefghijklmnop1234",
        "twilio auth token = " + "a1b2c3d4" * 4,
        "dd_api_key: " + "0123456789abcdef" * 2,
        "heroku_api_key=" + fake("uuid"),
        "\u0664\u0666\u0666\u0666\u0661\u0667\u0666\u0660\u0663\u0661\u0663\u0667\u0662\u0661\u0665\u0669",  # Arabic-Indic
        "４６６６ １７６０ ３１３７ ２１５９",  # full-width: folded to ASCII
        "ѕk-рrој g\u200bh\u200bp_ ｇｈｐ＿ 😀😀 ’’ ’ 中文",
        "QUJD" * 8,
        "QUJD" * 8 + "===",
        "completion_tokens_details",
        "(" + " " * 10 + "1",
        "key- sk- AKIA == : = \\n \\u0041",
        base64.b64encode(b"export GITHUB_TOKEN=" + fake("github_pat").encode()).decode(),
        base64.urlsafe_b64encode(b"password=" + fake("password").encode()).decode(),
    ]
    + [fake(name, seed) for name in FAKES for seed in range(2)]
)
_WORDS = "the quarterly review covers latency at the 99th percentile; on-call load, max_tokens".split()


def _texts(n: int = 300, seed: int = 7) -> Iterator[str]:
    r = random.Random(seed)
    yield from _TRICKY
    for _ in range(n):
        parts = [r.choice(_TRICKY) if r.random() < 0.4 else r.choice(_WORDS) for _ in range(r.randint(1, 30))]
        yield r.choice([" ", "", "\n", "_", "-", ": "]).join(parts)


def test_digit_leads_cover_every_unicode_digit() -> None:
    """A `\\d` anywhere in Unicode shapes as digits, so a gate on digits never drops a match."""
    every = "".join(map(chr, range(0x80, sys.maxunicode + 1)))
    for m in re.finditer(r"\d", every):
        encoded = m.group().encode("utf-8")
        assert shape(m.group(), DIGITS) == b"0" * len(encoded), hex(ord(m.group()))
        assert shape(m.group(), NUMBERISH) == MARK * len(encoded)


def test_runs_and_number_runs_match_the_regex_scan() -> None:
    for text in _texts():
        view = TextView(text)
        assert view.number_runs() == [m.span() for m in _NUMBER_RUN.finditer(text)], text
        if text.isascii():
            sh = shape(text, BASE64)
            expected = [m.span() for m in re.finditer(b"x{16,}", sh)]
            assert list(runs(text, BASE64, 16)) == expected


def _reference_blobs(text: str, cap: int) -> Iterator[tuple[int, int]]:
    """The regex blob_spans stands in for (quadratic on a run longer than `cap`: keep inputs small); of a
    longer run, blob_spans starts at a multiple of 4 from the run's start."""
    blob = re.compile(rf"[A-Za-z0-9+/_-]{{16,{cap}}}+={{0,2}}+(?![A-Za-z0-9+/=_-])")
    for m in blob.finditer(text):
        s, run = m.start(), m.start()
        while run and text[run - 1] in B64_CHARS:
            run -= 1
        yield s + (run - s) % 4, m.end()


@pytest.mark.parametrize("min_length", [8, 16, 24, 40])
def test_blob_spans_are_the_long_regex_matches(min_length: int) -> None:
    r = random.Random(min_length)
    odd = ["A" * 70 + "===" + "B" * 30 + "==", "x" * 40 + "=", "é" + "QUJD" * 10, "QUJD" * 30 + "=é"]
    odd += ["".join(r.choice("QUJD+/_-=!é \n") for _ in range(r.randint(0, 300))) for _ in range(300)]
    odd += [
        "".join(r.choice("QUJD") * r.randint(0, 90) + r.choice("==é! ") for _ in range(6)) for _ in range(300)
    ]
    for text in [*_texts(), *odd]:
        expected = [(s, e) for s, e in _reference_blobs(text, 64) if e - s >= min_length]
        assert list(blob_spans(text, min_length, cap=64)) == expected, text


def test_keyword_groups_find_what_in_finds() -> None:
    prefilter = Prefilter(ALL_DETECTORS)
    keywords = sorted(
        {kw for d in ALL_DETECTORS for kw in d.keywords} | {kw for d in ALL_DETECTORS for kw in d.ikeywords}
    )
    finder = registry._Keywords({kw: [i] for i, kw in enumerate(keywords)})
    for text in [*_texts(), " ".join(keywords), "_" * 40 + "npm_", "-" * 30 + "sk-" * 5 + "key-"]:
        for low in (False, True):
            view = TextView(text)
            hits: set[int] = set()
            finder.find(view, low, hits)
            source = text.lower() if low else text
            assert hits == {i for i, kw in enumerate(keywords) if kw in source}, (text, low)
        chosen = prefilter.candidates(TextView(text))
        for det in prefilter.detectors:  # a detector left out could not have found anything (keyed: by name)
            if det.key is not None:
                continue
            assert det in chosen or not list(dataclasses.replace(det, gate=None).find(TextView(text))), (
                det.type
            )


def test_starts_and_gates_change_no_detector_result() -> None:
    special = [d for d in ALL_DETECTORS if d.starts or d.gate]
    assert special
    for text in _texts():
        for det in special:
            plain = dataclasses.replace(det, starts=(), gate=None)
            assert list(det.find(TextView(text))) == list(plain.find(TextView(text))), (det.type, text)


_Plain = tuple[str, str | None, str, tuple[OffsetMap, ...]]  # text, key, path, maps


def _plain_segments(
    text: str,
    base: tuple[OffsetMap, ...],
    prefix: Callable[[], str],
    depth: int,
    out: list[_Plain],
) -> None:
    """json_segments' strings without its shortcuts: every string unescaped and folded, an OffsetMap each."""
    doc = jsonscan.JsonDoc(text, prefix)
    prev_key, prev_end = None, -1
    for m in jsonscan.STRING_RE.finditer(text):
        raw = m.group(1)
        key = prev_key if prev_key is not None and not text[prev_end : m.start()].strip() else None
        un, umap = jsonscan.unescape(raw)
        shift = OffsetMap()
        shift.add(m.start(1), len(raw), len(raw), 1)
        inner = ((umap,) if umap else ()) + (shift,) + base
        prev_key, prev_end = (un, m.end()) if m.group(2) else (None, -1)
        stripped = un.strip()
        if (
            depth
            and len(stripped) > 1
            and stripped[0] in "{["
            and stripped[-1] in "}]"
            and jsonscan.parse_ok(un)
        ):
            _plain_segments(un, inner, partial(doc.nested_prefix, m.start()), depth - 1, out)
            continue
        folded, fmap = fold(un)
        if len(folded) < jsonscan.MIN_TEXT:
            continue  # too short for any detector
        out.append((folded, key, doc.path_at(m.start()), ((fmap,) if fmap else ()) + inner))


def test_json_strings_segment_like_the_plain_path() -> None:
    """Escapes, characters that fold, nested documents (with spaces around) and JSON numbers."""
    doc = {
        "plain": "ascii only",
        "esc\\aped": 'quote " slash \\ newline \n tab \t unicode \u00e9 \ud83d\ude00',
        "fold": "ｇｈｐ＿tоkеn zero\u200bwidth ４１１１",
        "nested": json.dumps(
            {"arguments": json.dumps({"card": "4111 1111 1111 1111", "n": 4111111111111111})}
        ),
        "spaced": '  {"a": ["x", 5500000000000004]}\n',
        "not json": "{almost}",
        "numbers": [4111111111111111, 12.5, 1e20, -5500000000000004],
        "card": 4111111111111111,
        "empty": "",
    }
    for ensure_ascii in (True, False):
        text = json.dumps(doc, ensure_ascii=ensure_ascii)
        expected: list[_Plain] = []
        _plain_segments(text, (), lambda: "", 2, expected)
        got = [s for s in _segments(text, 2) if not s.wrap]
        assert [(s.text, s.key, s.locate() if s.locate else "") for s in got] == [e[:3] for e in expected]
        for seg, (folded, _, _, maps) in zip(got, expected, strict=True):
            every = [(i, j) for i in range(len(folded)) for j in range(i + 1, len(folded) + 1)]
            assert [to_source(seg.maps, i, j) for i, j in every] == [to_source(maps, i, j) for i, j in every]
        numbers = [(s.text, s.where("request")) for s in _segments(text, 2) if s.wrap]
        assert numbers == [
            ("4111111111111111", "request.body:$.nested:$.arguments:$.n"),
            ("5500000000000004", "request.body:$.spaced:$"),
            ("4111111111111111", "request.body:$.numbers"),
            ("-5500000000000004", "request.body:$.numbers"),
            ("4111111111111111", "request.body:$.card"),
        ]


def _segments(text: str, depth: int) -> list[Segment]:
    """json_segments' segments, a group's as its members (test_speedups_adversarial checks groups)."""
    found: list[Segment] = []
    jsonscan.json_segments(text, (), "body", lambda: "", depth, found)
    return [m for s in found for m in (s.group.members() if s.group else (s,))]


def test_slice_map_reads_like_a_one_piece_offset_map() -> None:
    for base in (0, 3, 100):
        for length in (0, 1, 9):
            piece = OffsetMap()
            piece.add(base, length, length, 1)
            fast = OffsetMap.shift(base, length)
            for i in range(-2, 14):
                assert (fast.start(i), fast.end(i)) == (piece.start(i), piece.end(i))


@pytest.fixture()
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fast path off: no Hyperscan, gates always open, full regex scans, one `in` test per keyword."""

    def keywords_by_in(self: registry._Keywords, view: TextView, low: bool, hits: set[int]) -> None:
        text = view.low if low else view.text
        for kw, idxs in self._plain:
            if kw in text:
                hits.update(idxs)
        for _, _, entries in self._groups:
            for kw, _, idxs in entries:
                if kw in text:
                    hits.update(idxs)

    monkeypatch.setattr(registry._HsIndex, "hits", lambda self, view: None)
    monkeypatch.setattr(DlpScanner, "_clean_json", lambda self, body, ct, direction: False)
    monkeypatch.setattr(TextView, "has", lambda self, table, needle: True)
    monkeypatch.setattr(
        TextView, "find", lambda self, lit, low=False: 0 if lit in (self.low if low else self.text) else -1
    )
    monkeypatch.setattr(
        TextView, "number_runs", lambda self: [m.span() for m in _NUMBER_RUN.finditer(self.text)]
    )
    monkeypatch.setattr(registry._Keywords, "find", keywords_by_in)
    monkeypatch.setattr(
        blobs,
        "blob_spans",
        lambda text, min_length: (
            (s, e) for s, e in _reference_blobs(text, blobs.MAX_BLOB) if e - s >= min_length
        ),
    )
    monkeypatch.setattr(jsonscan, "has", lambda text, table, needle: True)


def _bodies() -> Iterator[tuple[bytes, str]]:
    r = random.Random(3)
    for text in _texts(120):
        yield text.encode("utf-8"), "text/plain"
        yield (
            json.dumps({"messages": [{"role": "user", "content": text}], "max_tokens": 256}).encode(),
            "application/json",
        )
        nested = json.dumps({"tool": {"arguments": json.dumps({"q": text, "card": 4666176031372159})}})
        yield nested.encode(), "application/json"
        blob = base64.b64encode(text.encode()).decode()
        yield (
            json.dumps(
                [blob, r.choice([5384837261675136, 1730000000]), {"x": text}], ensure_ascii=False
            ).encode(),
            "application/json",
        )


def _results() -> list[tuple[object, ...]]:
    scanner = DlpScanner(
        DlpConfig.from_mapping({"hash_key": "k" * 16, "actions": {"pii": "redact", "ip_address": "log"}})
    )
    out = []
    for body, ct in _bodies():
        r = scanner.scan_request(
            host="x.example", path_and_query="/v1", headers=[("Content-Type", ct)], body=body
        )
        out.append((r.action, r.findings, r.redacted_body))
    return out


def test_the_scan_finds_what_the_slow_paths_find(request: pytest.FixtureRequest) -> None:
    fast = _results()
    request.getfixturevalue("slow")
    slow = _results()
    assert sum(len(f) for _, f, _ in fast) > 200
    assert fast == slow


def test_skipping_to_the_end_of_a_glued_token_finds_what_the_position_by_position_scan_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from palaryn_proxy.dlp import detector

    rng = random.Random(7)
    cards = ["4666 1760 3137 2159", "5384-8372-6167-5136", "4539148803436467"]
    texts = [
        "4111 " * 300 + " " + cards[0] + " " + "4111 " * 300,
        "x4666 1760 3137 2159 " + cards[1] + " 9" + cards[2] + " -" + cards[2] + " " + cards[2],
        "".join(
            rng.choice(["4", "1", " ", "-", "a", "_", cards[rng.randrange(3)] + " "]) for _ in range(3000)
        ),
        "SSN 536-22-8114 and 1536-22-8114 and x536-22-8114 and -536-22-8114",
    ]
    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"pii": "log"}}))

    def scan() -> list[tuple[str, int, int]]:
        out = []
        for text in texts:
            found = scanner.scan_request(host="h", body=text.encode(), content_type="text/plain").findings
            out.append([(f.type, f.start, f.end) for f in found])
        return out  # type: ignore[return-value]

    fast = scan()
    assert any(f[0] == "credit_card" for f in fast[0]) and any(f[0] == "us_ssn" for f in fast[3])
    monkeypatch.setattr(detector, "_token_skipper", lambda not_after: None)
    assert scan() == fast


def _random_doc(r: random.Random, depth: int = 0) -> object:
    alphabet = 'ab "\\/\n\t\x01\u00e9\u2028\U0001f600:{}[],'
    kind = r.randrange(6 if depth < 4 else 3)
    if kind == 0:
        return "".join(r.choice(alphabet) for _ in range(r.randrange(12)))
    if kind == 1:
        return r.choice([0, -1.5e10, 12345678901234, True, None])
    if kind == 2:
        return json.dumps(_random_doc(r, depth + 1))  # JSON inside a string, as tool-call arguments
    if kind == 3:
        return [_random_doc(r, depth + 1) for _ in range(r.randrange(4))]
    return {"".join(r.choice(alphabet) for _ in range(r.randrange(6))): _random_doc(r, depth + 1)
            for _ in range(r.randrange(4))}  # fmt: skip


def test_json_strings_finds_what_the_string_regex_finds() -> None:
    r = random.Random(7)
    for i in range(3000):
        doc = _random_doc(r)
        indent = r.choice([None, 2, "\t"])
        text = json.dumps(
            doc, ensure_ascii=bool(i % 2), indent=indent, separators=r.choice([None, (",", ":")])
        )
        expected = [(m.start(), m.end(), m.group(1), bool(m.group(2))) for m in STRING_RE.finditer(text)]
        assert list(json_strings(text)) == expected, text
