"""The shortcuts taken on hostile bodies (joined string arrays, skipped value runs, keyword-tested vendor
names, one search per number run, no `user:` without a colon, grouped JSON strings, paths counted on
demand) answer what the plain forms answer."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import re
from collections.abc import Iterator

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner, fastpath, hsprefilter, jsonscan, secrets_paired
from palaryn_proxy.dlp.config import DecodeConfig
from palaryn_proxy.dlp.detector import Detector, Span, TextView
from palaryn_proxy.dlp.jsonpaths import PathIndex, spell
from palaryn_proxy.dlp.jsonscan import unescape
from palaryn_proxy.dlp.offsets import to_source
from palaryn_proxy.dlp.registry import ALL_DETECTORS, Prefilter
from palaryn_proxy.dlp.segment import Segment

needs_hyperscan = pytest.mark.skipif(not hsprefilter.AVAILABLE, reason="no Hyperscan wheel here")


@pytest.fixture(scope="module")
def prefilter() -> Prefilter:
    return Prefilter(ALL_DETECTORS)


def _texts(parts: list[str], n: int, seed: int, reps: int = 40) -> Iterator[str]:
    rnd = random.Random(seed)
    for _ in range(n):
        yield "".join(rnd.choice(parts) for _ in range(rnd.randint(1, reps)))


def test_joined_string_arrays_decide_like_string_by_string(
    prefilter: Prefilter, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = fake("github_pat", seed=3)
    items = ["ab", "hello there", token, "jane.doe@acme-corp.io", '{"password": "hunter2hunter2"}', "é",
             "[1, 2]", "QUJD" * 8, "", "4111 1111 1111 1111", "see\n\x00\n{}"]  # fmt: skip
    rnd = random.Random(5)
    docs: list[object] = [[], [""], ["ab"] * 50, {"a": ["x", 1]}, [["ab", "cd"], ["ef"]]]
    docs += [[rnd.choice(items) for _ in range(rnd.randint(1, 8))] for _ in range(300)]
    docs += [{"messages": d} for d in docs[:100]]
    for depth in (0, 2):
        decode = DecodeConfig(json_max_depth=depth)
        fast = [fastpath.clean_json(json.loads(json.dumps(d)), prefilter, decode) for d in docs]
        monkeypatch.setattr(fastpath, "_plain_strings", lambda items, level: None)
        plain = [fastpath.clean_json(json.loads(json.dumps(d)), prefilter, decode) for d in docs]
        monkeypatch.undo()
        assert fast == plain
        assert True in fast and False in fast


def _without_dead_runs(det: Detector, view: TextView) -> list[Span]:
    return list(dataclasses.replace(det, dead_runs=None).find(TextView(view.text)))


def test_value_runs_are_skipped_without_losing_an_assignment() -> None:
    assign = [d for d in ALL_DETECTORS if d.dead_runs is not None]
    assert {d.type for d in assign} == {"generic_password", "generic_secret"}
    run = "password=" * 600  # 5,400 characters: a dead run
    parts = [run, "/" * 4500, "x=" * 2100, "/password=xK9#mQ2vL7pR4zT", "db_token: s3cr3t-Value-77", " ", "\n", '"', ";",
             "&", "secret_key='AbCdEf123456xyz'", "pwd=" + "Zq9" * 90, "API_KEY=" + "k" * 300]  # fmt: skip
    for text in _texts(parts, 60, 7, reps=12):
        view = TextView(text)
        for det in assign:
            assert list(det.find(view)) == _without_dead_runs(det, view), (det.type, len(text))
    # an assignment at the very end of a long run, and one just after it, are still found
    tail = "/" * 5000 + "password=xK9#mQ2vL7pR4zT"
    for text in (tail, tail + " token=" + "AbC9" * 6):
        det = next(d for d in assign if d.type == "generic_password")
        assert list(det.find(TextView(text))) == _without_dead_runs(det, TextView(text)) != []


@needs_hyperscan
def test_vendor_names_alone_open_no_scan_without_a_key_word(prefilter: Prefilter) -> None:
    datadog = {"datadog_api_key", "datadog_app_key"}
    assert not datadog & {d.type for d in prefilter.candidates(TextView("dd" * 5000))}
    key = "a3f9c2e71b5d4086f2a9e3c1d7b04f65"
    text = f"export DD_API_KEY={key}\n"
    assert "datadog_api_key" in {d.type for d in prefilter.candidates(TextView(text))}
    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": "redact"}}))
    assert "datadog_api_key" in [f.type for f in scanner.scan_text(text)]
    # the keyword prefilter (non-ASCII text) decides the same
    assert "datadog_api_key" in [f.type for f in scanner.scan_text("é " + text)]


def test_one_search_per_number_run_finds_what_the_scan_finds() -> None:
    numbers = [d for d in ALL_DETECTORS if d.in_numbers]
    parts = ["0123456789abcdef", "+1 415 555 2671", "4111 1111 1111 1111", "536-22-8114", "(030) 1234567",
             " ", "-", ".", "x", "00", "12", "0"]  # fmt: skip
    for text in _texts(parts, 300, 9):
        view = TextView(text)
        for det in numbers:
            plain = [
                span
                for ws, we in view.number_runs()
                for span in det._scan(text, text, ws, min(we + 1, len(text)))
            ]
            assert list(det.find(view)) == plain, (det.type, text)


def test_user_password_at_host_needs_a_colon() -> None:
    assert list(secrets_paired._schemeless_userinfo("a@" * 1000)) == []
    found = list(secrets_paired._schemeless_userinfo("DB_URL=app:Xk9mQ2vL7pR4@db.prod.acme.io:5432"))
    assert [v for _, _, v in found] == ["Xk9mQ2vL7pR4"]


def _reference_nodes(text: str) -> dict[int, object]:
    """The path index jsonpaths replaced: one step per token of the document."""
    nodes: dict[int, object] = {}
    stack: list[list[object]] = []  # [in_array, below, index, key]

    def node() -> object:
        if not stack:
            return None
        in_array, below, index, key = stack[-1]
        step = index if in_array else key
        return below if step is None else (below, in_array, step)

    expect_key = False
    for m in re.finditer(r'"(?:[^"\\]++|\\.)*+"|[\[\]{},]', text, re.S):
        tok = m.group()
        if tok in ("{", "["):
            stack.append([tok == "[", node(), 0, None])
            expect_key = tok == "{"
        elif tok in ("}", "]"):
            if stack:
                stack.pop()
            expect_key = False
        elif tok == ",":
            if stack and stack[-1][0]:
                stack[-1][2] += 1  # type: ignore[operator]
            else:
                expect_key = True
        else:
            if expect_key and stack:
                stack[-1][3] = unescape(tok[1:-1])[0]
                expect_key = False
            nodes[m.start()] = node()
    return nodes


def _random_doc(rnd: random.Random, depth: int = 0) -> object:
    leaves = ["a,b", "x", "abcdef", "hello world", "[1]", '{"k": "vvvvvv"}', 'q"uote', "é", 1, 2.5, None,
              True, "back\\slash", "", ":", "ends ]", "ends }", "ends ", "x" * 127, "x" * 130, "QUJD" * 6,
              "jane.doe@acme-corp.io", "a:b, c", fake("github_pat", seed=1), fake("github_pat", seed=2).encode().hex()]  # fmt: skip
    r = rnd.random()
    if depth > 4 or r < 0.35:
        return rnd.choice(leaves)
    if r < 0.75:
        n = rnd.choice([0, 2, 5, 40, 300])  # a long array holds leaves only: the documents stay small
        return [
            rnd.choice(leaves) if n > 5 or rnd.random() < 0.5 else _random_doc(rnd, depth + 1)
            for _ in range(n)
        ]
    keys = ["k", "abcdef", "a b c", "é", "", "x:y", "[", "password", "content"]
    return {rnd.choice(keys) + str(i): _random_doc(rnd, depth + 1) for i in range(rnd.randint(0, 4))}


def _dumps(rnd: random.Random, doc: object) -> str:
    seps = rnd.choice([None, (",", ":"), (" , ", " : ")])
    return json.dumps(doc, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1]), separators=seps)


def test_paths_are_the_token_by_token_index() -> None:
    rnd = random.Random(11)
    for _ in range(1500):
        text = _dumps(rnd, _random_doc(rnd))
        expected = _reference_nodes(text)
        starts = list(expected)
        rnd.shuffle(starts)  # findings ask in any order
        index = PathIndex(text)
        assert [spell(index.node(p)) for p in starts] == [spell(expected[p]) for p in starts], text[:200]  # type: ignore[arg-type]


def _no_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonscan, "GROUP_MAX", 0)
    monkeypatch.setattr(jsonscan, "_RUN_MIN", 1 << 62)


def test_groups_hold_the_segments_of_their_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    def described(text: str, depth: int, keys: bool) -> list[tuple[object, ...]]:
        out: list[Segment] = []
        jsonscan.json_segments(text, (), "body", lambda: "p", depth, out, keys)
        flat = [m for s in out for m in (s.group.members() if s.group else (s,))]
        return [(s.text, s.key, s.locate() if s.locate else "", to_source(s.maps, 0, len(s.text)),
                 to_source(s.maps, len(s.text) // 2, len(s.text))) for s in flat]  # fmt: skip

    rnd = random.Random(12)
    texts = [_dumps(rnd, _random_doc(rnd)) for _ in range(400)]
    cases = [(t, d, k) for t in texts for d in (0, 2) for k in (True, False)]
    grouped = [described(*c) for c in cases]
    _no_groups(monkeypatch)
    assert grouped == [described(*c) for c in cases]


def test_grouped_strings_give_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hits, blobs and layer readings inside groups: the findings of the scan without groups."""
    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": "redact", "pii": "log"},
                                                 "clean_cache_chars": 0}))  # fmt: skip
    rnd = random.Random(13)
    bodies = [_dumps(rnd, _random_doc(rnd)).encode() for _ in range(150)]
    token = fake("github_pat", seed=4)
    bodies.append(json.dumps(["a1b2c"] * 400 + [token, base64.b64encode(token.encode()).decode()]).encode())

    def scan() -> list[list[tuple[str, str, int, int]]]:
        out = []
        for body in bodies:
            r = scanner.scan_request(host="api.example.com", method="POST", path_and_query="/v1/x", body=body,
                                     content_type="application/json")  # fmt: skip
            out.append([(f.type, f.location, f.start, f.end) for f in r.findings])
        return out

    grouped = scan()
    assert sum(map(len, grouped)) > 50 and len(grouped[-1]) >= 2
    _no_groups(monkeypatch)
    assert grouped == scan()
