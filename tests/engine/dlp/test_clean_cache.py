"""The clean-text cache: re-sent history is not scanned again, and nothing that could hold a finding is skipped."""

from __future__ import annotations

import base64
import json

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner
from palaryn_proxy.dlp.cleancache import CleanCache
from palaryn_proxy.dlp.registry import Prefilter
from palaryn_proxy.errors import ConfigError

HISTORY = [
    {"role": "system", "content": "You are a careful assistant that reviews deployment notes. " * 6},
    {
        "role": "user",
        "content": "Summarise the release checklist for the billing service, step by step. " * 5,
    },
]


def chat(*extra: dict[str, str]) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [*HISTORY, *extra]}).encode()


def scan(scanner: DlpScanner, body: bytes) -> list[str]:
    result = scanner.scan_request(host="api.openai.com", body=body, content_type="application/json")
    return [f.type for f in result.findings]


@pytest.fixture
def scanned_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the prefilter looks at in the full scan (the cache serves the full scan; the
    clean-JSON fast path, which builds no segments, is off here and tested in test_fastpath.py)."""
    seen: list[int] = []
    monkeypatch.setattr(DlpScanner, "_clean_json", lambda self, body, ct, direction: False)
    original = Prefilter.candidates

    def spy(self: Prefilter, view):  # type: ignore[no-untyped-def]
        seen.append(len(view.text))
        return original(self, view)

    monkeypatch.setattr(Prefilter, "candidates", spy)
    return seen


def test_resent_history_is_not_scanned_again(scanned_lengths: list[int]) -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    assert scan(scanner, chat()) == []
    first = scanned_lengths[-1]
    key = fake("openai_project_key")
    assert scan(scanner, chat({"role": "user", "content": f"and use {key} for it"})) == ["openai_project_key"]
    assert scanned_lengths[-1] < first / 2  # only the new message and the short strings were looked at


def test_texts_with_findings_keyed_values_and_blobs_are_never_remembered() -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    key = fake("github_pat")
    long_secret = f"Deploy notes follow. The token is {key}. " + "Routine text about the rollout. " * 6
    blob = base64.b64encode(f"aws key {fake('aws_access_key_id')} in a config file".encode()).decode()
    encoded = "An attachment follows: " + blob + " " + "More routine words about nothing. " * 5
    password = {"password": "Tr0ub4dor&3!" * 12}  # long enough to be remembered, were it not keyed
    for _ in range(3):
        assert scan(scanner, chat({"role": "user", "content": long_secret})) == ["github_pat"]
        assert "aws_access_key_id" in scan(scanner, chat({"role": "user", "content": encoded}))
        body = json.dumps(password).encode()
        assert scan(scanner, body) == ["generic_password"]


def test_responses_are_not_cached_and_zero_turns_it_off(scanned_lengths: list[int]) -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({"clean_cache_chars": 0}))
    scan(scanner, chat())
    scan(scanner, chat())
    assert scanned_lengths[-1] == scanned_lengths[-2]
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    for _ in range(2):
        scanner.scan_response(host="api.openai.com", body=chat(), content_type="application/json")
    assert scanned_lengths[-1] == scanned_lengths[-2]


def test_cache_is_bounded_by_characters() -> None:
    cache = CleanCache(max_chars=1000)
    texts = [f"{i:04d}" + "x" * 296 for i in range(5)]
    for text in texts:
        cache.add(text)
    assert len(cache) == 2 and texts[3] in cache and texts[0] not in cache  # started over at the fourth
    cache.add("short")
    assert "short" not in cache
    cache.add("y" * 2000)
    assert len(cache) == 0


def test_config_key_is_validated() -> None:
    with pytest.raises(ConfigError, match="dlp.clean_cache_chars: expected an integer >= 0"):
        DlpConfig.from_mapping({"clean_cache_chars": -1})


def test_a_remembered_text_is_still_judged_under_a_key_that_picks_a_detector() -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    value = "Tr0ub4dor&3!" * 12  # clean as prose, a finding as the value of a password field
    assert scan(scanner, chat({"role": "user", "content": value})) == []
    assert scan(scanner, json.dumps({"password": value}).encode()) == ["generic_password"]
