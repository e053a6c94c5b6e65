"""Offline tiktoken estimation: seeding, loading with the network blocked, exact and sampled counts."""

from __future__ import annotations

import hashlib
import inspect
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tiktoken_ext import openai_public  # type: ignore[import-untyped]

from palaryn_proxy.errors import PalarynError
from palaryn_proxy.usage import tokens

# sha256 values tiktoken_ext.openai_public pins for the two files (written out so a swap is caught).
SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded directory for the counting tests, so encoders load once per module."""
    return tmp_path_factory.mktemp("tiktoken")


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args!r}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connect, DNS lookup or proxied request fails loudly."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)


@pytest.mark.parametrize(
    ("model", "name", "approximate"),
    [
        ("gpt-4o", "o200k_base", False),
        ("gpt-4o-mini-2024-07-18", "o200k_base", False),
        ("gpt-4.1-nano", "o200k_base", False),
        ("gpt-5", "o200k_base", False),
        ("gpt-5-mini", "o200k_base", False),
        ("o1", "o200k_base", False),
        ("o3-mini", "o200k_base", False),
        ("o4-mini-2025-04-16", "o200k_base", False),
        ("chatgpt-4o-latest", "o200k_base", False),
        ("openai/gpt-4o", "o200k_base", False),
        ("ft:gpt-4o-mini:acme::abc", "o200k_base", False),
        ("GPT-4O", "o200k_base", False),
        ("gpt-4", "cl100k_base", False),
        ("gpt-4-turbo", "cl100k_base", False),
        ("gpt-3.5-turbo", "cl100k_base", False),
        ("gpt-35-turbo", "cl100k_base", False),
        ("text-embedding-3-small", "cl100k_base", False),
        ("claude-sonnet-4-5", "cl100k_base", True),
        ("gemini-2.5-pro", "cl100k_base", True),
        ("mistral-large-latest", "cl100k_base", True),
        ("llama3.1:8b", "cl100k_base", True),
        ("ollama", "cl100k_base", True),
        (None, "cl100k_base", True),
        ("", "cl100k_base", True),
    ],
)
def test_encoding_for_model(model: str | None, name: str, approximate: bool) -> None:
    assert tokens.encoding_for_model(model) == (name, approximate)


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_loads_from_fresh_cache_with_network_blocked(name: str, tmp_path: Path, no_network: None) -> None:
    cache = tmp_path / "fresh" / "tiktoken"
    encoder = tokens.get_encoding(name, cache)
    assert encoder.encode_ordinary("hello world") and encoder.name == name
    seeded = cache / hashlib.sha1(URL.format(name).encode()).hexdigest()
    assert hashlib.sha256(seeded.read_bytes()).hexdigest() == SHA256[name]
    assert [p.name for p in cache.iterdir()] == [seeded.name]  # no temp file left behind
    assert tokens.get_encoding(name, cache) is encoder  # cached per process


@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_tiktoken_itself_accepts_the_seeded_cache_and_matches_ours(
    name: str, tmp_path: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens.seed_cache(name, tmp_path)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    reference = getattr(openai_public, name)()  # tiktoken's own constructor: reads TIKTOKEN_CACHE_DIR
    ours = tokens.get_encoding(name, tmp_path)
    assert ours._pat_str == reference["pat_str"]
    assert ours._special_tokens == reference["special_tokens"]
    assert ours._mergeable_ranks == reference["mergeable_ranks"]


def test_corrupt_cache_file_is_replaced(tmp_path: Path, no_network: None) -> None:
    path = tmp_path / tokens.cache_file_name("cl100k_base")
    path.write_bytes(b"not a tiktoken file")
    data = tokens.seed_cache("cl100k_base", tmp_path)
    assert hashlib.sha256(data).hexdigest() == SHA256["cl100k_base"]
    assert path.read_bytes() == data


def test_unwritable_cache_dir_still_loads(
    tmp_path: Path, no_network: None, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory's parent should be")
    encoder = tokens.get_encoding("cl100k_base", blocker / "tiktoken")
    assert encoder.encode_ordinary("hello world") == [15339, 1917]
    assert "not writable" in caplog.text


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PalarynError, match="p50k_base"):
        tokens.get_encoding("p50k_base", tmp_path)


# Token ids checked against tiktoken.get_encoding() loaded from the seeded cache with the network blocked.
@pytest.mark.parametrize(
    ("name", "text", "ids"),
    [
        ("cl100k_base", "hello world", [15339, 1917]),
        ("o200k_base", "hello world", [24912, 2375]),
        ("cl100k_base", "Hello, world!", [9906, 11, 1917, 0]),
        ("o200k_base", "Hello, world!", [13225, 11, 2375, 0]),
        ("cl100k_base", "안녕하세요 세계", [31495, 230, 75265, 243, 92245, 28867, 116, 22783, 226]),
        ("o200k_base", "안녕하세요 세계", [14307, 171731, 75755]),
        ("cl100k_base", "def f(x):\n    return x**2\n", [755, 282, 2120, 997, 262, 471, 865, 334, 17, 198]),
        ("o200k_base", "def f(x):\n    return x**2\n", [1314, 285, 4061, 1883, 271, 622, 1215, 410, 17, 198]),
    ],
)
def test_exact_ids(name: str, text: str, ids: list[int], cache: Path) -> None:
    assert tokens.get_encoding(name, cache).encode_ordinary(text) == ids


def test_count_tokens_picks_encoding_by_model(cache: Path) -> None:
    korean = "안녕하세요 세계"
    assert tokens.count_tokens(korean, "gpt-4", cache_dir=cache) == 9
    assert tokens.count_tokens(korean, "gpt-4o", cache_dir=cache) == 3
    assert tokens.count_tokens(korean, "claude-sonnet-4-5", cache_dir=cache) == 9
    assert tokens.count_tokens("hello world", None, cache_dir=cache) == 2
    assert tokens.count_tokens("", "gpt-4o", cache_dir=cache) == 0


def test_special_token_text_is_counted_as_ordinary_text(cache: Path) -> None:
    assert tokens.count_tokens("<|endoftext|>", "gpt-4", cache_dir=cache) == 7
    assert tokens.count_tokens("<|endoftext|>", "gpt-4o", cache_dir=cache) == 7


def test_estimate_prompt_tokens_adds_chat_overhead(cache: Path) -> None:
    assert tokens.estimate_prompt_tokens("hello world", "gpt-4o", cache_dir=cache) == 2
    assert tokens.estimate_prompt_tokens("hello world", "gpt-4o", 1, cache_dir=cache) == 2 + 3 + 3
    assert tokens.estimate_prompt_tokens("hello world", "gpt-4o", 4, cache_dir=cache) == 2 + 12 + 3


def _mixed_text(min_chars: int) -> str:
    parts = [inspect.getsource(json), inspect.getsource(textwrap), Path(tokens.__file__).read_text()]
    parts.append(
        "Les modèles de langage comptent les jetons différemment; 日本語のテキストも含めます。\n" * 50
    )
    text = ""
    while len(text) < min_chars:
        text += "".join(parts)
    return text


@pytest.mark.parametrize(("model", "name"), [("gpt-4", "cl100k_base"), ("gpt-4o", "o200k_base")])
def test_sampled_count_above_limit_is_within_15_percent(model: str, name: str, cache: Path) -> None:
    text = _mixed_text(tokens.EXACT_LIMIT_CHARS * 2)
    exact = len(tokens.get_encoding(name, cache).encode_ordinary(text))
    estimate = tokens.count_tokens(text, model, cache_dir=cache)
    assert abs(estimate - exact) <= 0.15 * exact


def test_exact_below_limit(cache: Path) -> None:
    text = _mixed_text(tokens.EXACT_LIMIT_CHARS // 2)[: tokens.EXACT_LIMIT_CHARS]
    exact = len(tokens.get_encoding("o200k_base", cache).encode_ordinary(text))
    assert tokens.count_tokens(text, "gpt-4o", cache_dir=cache) == exact


def test_huge_unbroken_run_is_bounded(cache: Path) -> None:
    started = time.monotonic()
    count = tokens.count_tokens("a" * 5_000_000, "gpt-4o", cache_dir=cache)
    assert time.monotonic() - started < 5.0  # generous: the sampled path encodes ~64k characters
    assert count == 625_000  # "aaaaaaaa" is one token in o200k_base


def test_import_loads_nothing() -> None:
    code = (
        "import sys, palaryn_proxy.usage.tokens as t;"
        "assert t._load_encoding.cache_info().currsize == 0;"
        "assert 'tiktoken_ext.openai_public' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_prompt_count_by_line_equals_whole_text_count(model: str, cache: Path) -> None:
    text = (
        _mixed_text(20_000)
        + "a\n \n   b\r\n\r\nc.\n\n\n  indented\n\t\ttabs\n" * 20
        + "end"
        + "\n" * 5000
        + "x"
    )
    encoder = tokens.get_encoding(tokens.encoding_for_model(model).name, cache)
    exact = len(encoder.encode_ordinary(text))
    assert tokens.count_prompt_tokens(text, model, cache_dir=cache) == exact
    assert tokens.count_prompt_tokens(text, model, cache_dir=cache) == exact  # again, from the line cache


def test_prompt_line_cache_serves_a_resent_conversation(cache: Path) -> None:
    history = "\n".join(
        f"turn {i}: " + "the agent reads the file and plans the next step " * 3 for i in range(50)
    )
    tokens.count_prompt_tokens(history, "gpt-4o", cache_dir=cache)
    line_cache = tokens._line_cache("o200k_base")
    held = len(line_cache)
    assert held >= 50
    grown = history + "\nturn 50: " + "a new step the agent has not sent before " * 3
    tokens.count_prompt_tokens(grown, "gpt-4o", cache_dir=cache)
    # encoded again: only the new line and the old last line, which now ends with a newline
    assert len(line_cache) == held + 2


def test_prompt_line_cache_is_bounded(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "LINE_CACHE_MAX_CHARS", 10_000)
    line_cache = tokens._line_cache("o200k_base")
    for i in range(200):
        tokens.count_prompt_tokens(f"line {i} " + "x y z " * 20 + "\nmore", "gpt-4o", cache_dir=cache)
        assert line_cache.size <= 10_000
