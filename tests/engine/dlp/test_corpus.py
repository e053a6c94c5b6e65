"""Precision and recall per detector type over the labelled corpora (positives in context, hard negatives)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import CORPUS, load_corpus
from dlp_fakes import fill

from palaryn_proxy.dlp import GROUPS, DlpConfig, DlpScanner


def _found(scanner: DlpScanner, text: str, content_type: str) -> set[str]:
    result = scanner.scan_request(
        host="tools.example.net",
        method="POST",
        path_and_query="/v1/run",
        headers=[("Content-Type", content_type)],
        body=text.encode("utf-8"),
    )
    return {f.type for f in result.findings}


def _score(
    scanner: DlpScanner, corpus: dict[str, Any]
) -> tuple[Counter[str], Counter[str], Counter[str], list[str]]:
    tp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    notes: list[str] = []
    samples = [
        (p["type"], p["text"], p.get("content_type", "text/plain"), p.get("also", []))
        for p in corpus["positives"]
    ]
    samples += [(None, text, "text/plain", []) for text in corpus["negatives"]]
    for expected, template, ct, also in samples:
        text = fill(template)
        found = _found(scanner, text, ct)
        if expected is not None:
            (tp if expected in found else fn)[expected] += 1
            if expected not in found:
                notes.append(f"missed {expected}: {template[:70]!r}")
        for t in found - {expected} - set(also):
            fp[t] += 1
            notes.append(f"false {t}: {template[:70]!r}")
    return tp, fn, fp, notes


def _table(tp: Counter[str], fn: Counter[str], fp: Counter[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for t in sorted(set(tp) | set(fn) | set(fp)):
        precision = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 0.0
        recall = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 0.0
        out[t] = (precision, recall)
    return out


CORPORA = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name.startswith(("secrets", "pii")))


@pytest.mark.parametrize("name", CORPORA)
def test_precision_and_recall_per_type(scanner: DlpScanner, name: str) -> None:
    tp, fn, fp, notes = _score(scanner, load_corpus(name))
    table = _table(tp, fn, fp)
    imperfect = {t: pr for t, pr in table.items() if pr != (1.0, 1.0)}
    assert not imperfect, f"precision/recall below 1.0: {imperfect}\n" + "\n".join(notes)
    assert sum(tp.values()) == len(load_corpus(name)["positives"])


def test_every_detector_type_has_positives() -> None:
    covered = {p["type"] for name in CORPORA for p in load_corpus(name)["positives"]}
    missing = set(GROUPS) - covered - {"ip_address"}  # ip_address is opt-in: tested on its own
    assert not missing
    assert sum(1 for g in GROUPS.values() if g == "secrets") >= 40


def test_ip_addresses_are_opt_in() -> None:
    text = "upstream 203.0.113.77 timed out; retried via 198.51.100.4 (version 1.2.3)"
    assert "ip_address" not in _found(DlpScanner(DlpConfig.from_mapping({})), text, "text/plain")
    on = DlpScanner(DlpConfig.from_mapping({"actions": {"ip_address": "log"}}))
    assert _found(on, text, "text/plain") == {"ip_address"}
    assert _found(on, "loopback 127.0.0.1 and 0.0.0.0, octets 300.1.2.3", "text/plain") == set()
