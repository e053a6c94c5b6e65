"""The prompt-injection detector on its labelled corpus: precision, recall, F1 and the hard-negative flag rate
on the parts it was tuned on (tune.yaml, heldout.yaml and heldout2.yaml, each since its first measurement) and
on the held-out part (heldout3.yaml, written apart and never looked at while tuning), all scanned as fetched
responses through a default DlpScanner.

Run with `-s` to see the figures and, per family and language, what was missed and what was wrongly flagged.
"""

from __future__ import annotations

import base64
import codecs
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import CORPUS, load_corpus

from palaryn_proxy.dlp import DlpScanner
from palaryn_proxy.dlp.injection import InjectionDetector
from palaryn_proxy.dlp.injection_lexicon import load_lexicon

# heldout.yaml was held out until 2026-12-08 (precision 0.965, recall 0.873, F1 0.916, 8 of 256 hard
# negatives flagged, after tuning on tune.yaml only); heldout2.yaml, written blind by someone who never saw
# the detector, was held out until later that day (precision 0.902, recall 0.561, F1 0.692, 20 of 350 hard
# negatives flagged, after tuning on the other two). Both have been tuned on since, like tune.yaml, and all
# three must meet the goals below. heldout3.yaml, written blind too, is the held-out part now: nobody tuning
# the detector reads it. Measured once after the second tuning round (2026-12-08): precision 0.892, recall
# 0.586, F1 0.707, 26 of 340 hard negatives flagged — the goals (F1 >= 0.90, <= 2% flagged) are NOT met on
# text written by another hand, so its test keeps what was reached and the goals stay open.
TUNED_PARTS = ("tune", "heldout", "heldout2")
HELD_OUT_PART = "heldout3"
HELDOUT3_F1 = 0.707
HELDOUT3_HARD_NEGATIVE_RATE = 0.076
MARGIN = 0.03
MAX_HARD_NEGATIVE_RATE = 0.02  # the goal, on every part
MIN_F1_TUNED = 0.95

_MARK = re.compile(r"\{\{(tags|zw|b64|hex|rot13):(.*?)\}\}", re.S)


def expand(text: str) -> str:
    """Corpus markers to the bytes an attacker would send: `{{tags:..}}` Unicode tag characters (ASCII only:
    other characters have no tag form and stay visible), `{{zw:..}}` a zero-width space between letters,
    `{{b64:..}}`, `{{hex:..}}`, `{{rot13:..}}` encodings."""

    def sub(m: re.Match[str]) -> str:
        kind, value = m.groups()
        if kind == "tags":
            return "".join(chr(0xE0000 + ord(c)) if " " <= c <= "~" else c for c in value)
        if kind == "zw":
            return "\u200b".join(value)
        if kind == "b64":
            return base64.b64encode(value.encode()).decode()
        if kind == "hex":
            return value.encode().hex()
        return codecs.encode(value, "rot13")

    return _MARK.sub(sub, text)


@dataclass
class Figures:
    part: str
    missed: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    positives: int = 0
    negatives: int = 0

    @property
    def tp(self) -> int:
        return self.positives - len(self.missed)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + len(self.flagged))

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.positives)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def hard_negative_rate(self) -> float:
        return len(self.flagged) / max(1, self.negatives)

    def report(self) -> str:
        lines = [
            f"{self.part}: precision {self.precision:.3f}  recall {self.recall:.3f}  F1 {self.f1:.3f}  "
            f"hard negatives flagged {self.hard_negative_rate:.3f} "
            f"({len(self.flagged)}/{self.negatives}; positives caught {self.tp}/{self.positives})"
        ]
        by = Counter((e["family"], e["lang"]) for e in self.missed)
        if by:
            lines.append("  missed: " + ", ".join(f"{f}/{lang} x{n}" for (f, lang), n in sorted(by.items())))
        lines += [f"  flagged: {e['id']} ({e['kind']}/{e['lang']})" for e in self.flagged]
        return "\n".join(lines)


def _flagged(scanner: DlpScanner, entry: dict[str, Any]) -> bool:
    r = scanner.scan_response(
        host="web.example.org",
        headers=[("Content-Type", entry["content_type"])],
        body=expand(entry["text"]).encode("utf-8"),
    )
    return r.injection is not None and r.injection.triggered


def _measure(scanner: DlpScanner, part: str) -> Figures:
    corpus = load_corpus(f"injection/{part}.yaml")
    f = Figures(part, positives=len(corpus["positives"]), negatives=len(corpus["negatives"]))
    f.missed = [e for e in corpus["positives"] if not _flagged(scanner, e)]
    f.flagged = [e for e in corpus["negatives"] if _flagged(scanner, e)]
    print("\n" + f.report())
    return f


@pytest.fixture(scope="module")
def figures(scanner: DlpScanner) -> dict[str, Figures]:
    return {part: _measure(scanner, part) for part in TUNED_PARTS}


def test_corpus_size_and_coverage() -> None:
    parts = [load_corpus(f"injection/{p}.yaml") for p in TUNED_PARTS]
    positives = [e for c in parts for e in c["positives"]]
    negatives = [e for c in parts for e in c["negatives"]]
    assert len(positives) >= 500 and len(negatives) >= 500
    languages = {e["lang"] for e in positives}
    assert {
        "en",
        "zh",
        "hi",
        "es",
        "fr",
        "ar",
        "bn",
        "pt",
        "ru",
        "ur",
        "id",
        "de",
        "ja",
        "ko",
        "tr",
    } <= languages
    families = {e["family"] for e in positives}
    assert {
        "override",
        "roleplay",
        "social",
        "extraction",
        "exfiltration",
        "tool",
        "hidden",
        "marker",
        "encoded",
    } <= families
    ids = [e["id"] for c in parts for e in c["positives"] + c["negatives"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("part", TUNED_PARTS)
def test_tuned_part(figures: dict[str, Figures], part: str) -> None:
    f = figures[part]
    assert f.hard_negative_rate <= MAX_HARD_NEGATIVE_RATE, f.report()
    assert f.f1 >= MIN_F1_TUNED, f.report()


def test_held_out_part(scanner: DlpScanner) -> None:
    """The honest measurement: a part nobody tuned on (skipped until it has been written)."""
    if not (CORPUS / "injection" / f"{HELD_OUT_PART}.yaml").exists():
        pytest.skip(f"{HELD_OUT_PART}.yaml is not written yet")
    f = _measure(scanner, HELD_OUT_PART)
    assert f.hard_negative_rate <= HELDOUT3_HARD_NEGATIVE_RATE + 0.01, f.report()
    assert f.f1 >= HELDOUT3_F1 - MARGIN, f.report()


def test_regex_fallback_agrees_with_hyperscan() -> None:
    """Without Hyperscan the trie regexes find the same concepts: the verdicts on the tuned part agree."""
    fast, slow = InjectionDetector(), InjectionDetector(load_lexicon(accelerate=False))
    corpus = load_corpus("injection/tune.yaml")
    entries = corpus["positives"] + corpus["negatives"]
    differ = []
    for e in entries:
        body = expand(e["text"]).encode("utf-8")
        a, b = (d.score_body(body, e["content_type"], "x") for d in (fast, slow))
        if ((a or (0.0,))[0] >= 0.5) != ((b or (0.0,))[0] >= 0.5):
            differ.append(e["id"])
    assert len(differ) <= len(entries) // 100, differ
