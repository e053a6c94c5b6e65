"""The clean-JSON fast path: what it may call clean, and what it must leave to the full scan."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp.config import DecodeConfig
from palaryn_proxy.dlp.fastpath import clean_json, parse
from palaryn_proxy.dlp.registry import ALL_DETECTORS, Prefilter


@pytest.fixture(scope="module")
def prefilter() -> Prefilter:
    return Prefilter(ALL_DETECTORS)


def _clean(prefilter: Prefilter, doc: object, depth: int = 2) -> bool:
    return clean_json(parse(json.dumps(doc)), prefilter, DecodeConfig(json_max_depth=depth))


def test_an_ordinary_chat_request_is_clean(prefilter: Prefilter) -> None:
    doc = {
        "model": "gpt-4o-mini-2024-07-18",
        "messages": [{"role": "user", "content": "Summarise the release notes in three bullet points."}],
        "max_tokens": 256,
        "temperature": 0.2,
    }
    assert _clean(prefilter, doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"messages": [{"role": "user", "content": "my key is " + fake("github_pat", seed=1)}]},
        {"password": "correct-horse-battery-9"},  # a keyed field: its name decides
        {"tool_calls": [{"arguments": json.dumps({"token": fake("slack_bot_token", seed=2)})}]},
        {"card": 4539148803436467},  # a card number as a JSON number
        {
            "blob": base64.b64encode(
                b"export AWS_SECRET=" + fake("openai_project_key", seed=3).encode()
            ).decode()
        },
        {"note": "call me at 415-555-2671"},
        {"blob": base64.b64encode(gzip.compress(("token " + fake("github_pat", seed=5)).encode())).decode()},
    ],
)
def test_anything_a_detector_may_find_goes_to_the_full_scan(prefilter: Prefilter, doc: object) -> None:
    assert not _clean(prefilter, doc)


def test_nested_documents_deeper_than_allowed_are_scanned_as_text(prefilter: Prefilter) -> None:
    inner = json.dumps({"x": "hello there, nothing to see"})
    assert _clean(prefilter, {"arguments": inner}, depth=0)
    assert _clean(prefilter, {"arguments": inner}, depth=2)


def test_non_ascii_strings_are_folded_before_the_test(prefilter: Prefilter) -> None:
    homoglyph = fake("github_pat", seed=4).replace("p", "р")  # Cyrillic er: folds to p
    assert not _clean(prefilter, {"content": homoglyph})
    assert _clean(prefilter, {"content": "Grüße aus München"})


def test_a_trigger_from_a_decoding_layer_sends_the_body_to_the_full_scan(prefilter: Prefilter) -> None:
    doc = parse(json.dumps({"content": "plain words only"}))
    assert clean_json(doc, prefilter, DecodeConfig())
    assert not clean_json(doc, prefilter, DecodeConfig(), triggered=lambda view: "plain" in view.text)
