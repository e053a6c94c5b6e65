"""The Hyperscan prefilter: loosened patterns are supersets, every built-in pattern compiles, threads are safe."""

from __future__ import annotations

import re
import threading

import pytest
from conftest import CORPUS, load_corpus
from dlp_fakes import fill

from palaryn_proxy.dlp import hsprefilter, registry
from palaryn_proxy.dlp.detector import TextView
from palaryn_proxy.dlp.registry import ALL_DETECTORS, Prefilter

pytestmark = pytest.mark.skipif(not hsprefilter.AVAILABLE, reason="no hyperscan wheel on this platform")


@pytest.mark.parametrize(
    ("pattern", "loose"),
    [
        (r"(?<![A-Z])AKIA[0-9A-Z]{16}(?![0-9A-Z])", r"AKIA[0-9A-Z]{16}"),
        (r"(?P<kw>pass)\s{0,3}=(?P<v>[^\s]{8,256}+)", r"(pass)\s{0,3}=([^\s]{8,})"),
        (
            r"-----BEGIN (?P<k>RSA )?KEY-----.{0,9}-----END (?P=k)KEY",
            r"-----BEGIN (RSA )?KEY-----.{0,9}-----END [\s\S]*KEY",
        ),
        (r"[(?=]x++\{2}", r"[(?=]x+\{2}"),
        (r"a{40}b{3,5}c{0,300}", r"a{32,}b{3,5}c{0,}"),
    ],
)
def test_loosen_drops_what_hyperscan_cannot_do_and_keeps_the_rest(pattern: str, loose: str) -> None:
    assert hsprefilter.loosen(pattern) == loose


def test_every_built_in_pattern_compiles_as_itself() -> None:
    """No detector falls back to its literals or to `always`: each is pre-tested by its own pattern, except
    the ones anchored on a run of one character (`AAAA...`), which run always by design (expressions())."""
    repeated = {i for i, det in enumerate(ALL_DETECTORS) if any(len(set(a)) == 1 for a in det.anchors)}
    assert [ALL_DETECTORS[i].type for i in repeated] == ["twitter_bearer_token"]
    assert hsprefilter.Database(ALL_DETECTORS).always == repeated
    for det in ALL_DETECTORS:
        if det.key is None:
            for e in hsprefilter.expressions(det):
                assert hsprefilter._compiles(e, hsprefilter.hyperscan.HS_FLAG_PREFILTER), det.type


def _texts() -> list[str]:
    out = []
    for path in sorted(CORPUS.glob("*.yaml")):
        corpus = load_corpus(path.name)
        if not isinstance(corpus, dict):
            continue
        out += [fill(p["text"]) for p in corpus.get("positives", []) if isinstance(p, dict) and "text" in p]
        out += [fill(t) for t in corpus.get("negatives", []) if isinstance(t, str)]
    return out


def test_hyperscan_misses_no_detector_the_regexes_find() -> None:
    """On every corpus text (ASCII and not), each detector that finds something was a candidate."""
    prefilter = Prefilter(ALL_DETECTORS)
    texts = _texts()
    assert len(texts) > 300
    for text in texts:
        view = TextView(text)
        candidates = {id(d) for d in prefilter.candidates(view)}
        for det in ALL_DETECTORS:
            if det.key is None and id(det) not in candidates:
                assert next(det.find(TextView(text)), None) is None, (det.type, text[:80])


@pytest.mark.parametrize("tail", ["\udc80", "é"])
def test_text_that_is_not_ascii_takes_the_keyword_path(tail: str) -> None:
    prefilter = Prefilter(ALL_DETECTORS)
    text = "AKIAIOSFODNN7EXAMPLF " + tail
    assert prefilter._hs is not None and prefilter._hs.hits(TextView(text)) is None
    assert prefilter.candidates(TextView(text))  # answered by the keyword prefilter


def test_detectors_outside_the_registry_get_a_database_of_their_own() -> None:
    from palaryn_proxy.dlp.detector import SECRETS, Detector

    own = Detector(
        type="aws_access_key_id", group=SECRETS, pattern=re.compile(r"zz[0-9]{6}"), keywords=("zz",)
    )
    prefilter = Prefilter([own])
    assert prefilter.candidates(TextView("id zz123456 here")) == [own]
    assert prefilter.candidates(TextView("id zz12 here")) == []


def test_gates_are_answered_by_the_same_scan() -> None:
    view = TextView("call 415 555 2671 today")
    Prefilter(ALL_DETECTORS).candidates(view)
    assert view._has  # the view knows every gate without translating its text
    assert view.has(*hsprefilter.BLOB_RUN) is False


def test_concurrent_scans_from_threads_agree() -> None:
    prefilter = Prefilter(ALL_DETECTORS)
    texts = _texts()[:120]
    expected = [[d.type for d in prefilter.candidates(TextView(t))] for t in texts]
    errors: list[str] = []

    def work() -> None:
        for _ in range(5):
            got = [[d.type for d in prefilter.candidates(TextView(t))] for t in texts]
            if got != expected:
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_without_hyperscan_the_keyword_prefilter_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hsprefilter, "AVAILABLE", False)
    prefilter = Prefilter(ALL_DETECTORS)
    assert prefilter._hs is None
    assert "aws_access_key_id" in {d.type for d in prefilter.candidates(TextView("AKIAIOSFODNN7EXAMPLF"))}
    assert registry.Prefilter is Prefilter
