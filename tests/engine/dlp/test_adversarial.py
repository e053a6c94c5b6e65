"""No catastrophic backtracking: every repetition is bounded or possessive, and hostile inputs scan linearly."""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

import pytest

import palaryn_proxy.dlp as dlp
from palaryn_proxy.dlp import ALL_DETECTORS, DlpScanner
from palaryn_proxy.dlp.injection_rules import RULES


def _all_patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    for d in ALL_DETECTORS:
        for field in ("pattern", "not_after", "trigger", "key"):
            p = getattr(d, field)
            if p is not None:
                yield f"{d.type}.{field}", p
    for r in RULES:
        yield f"injection.{r.signal}", r.pattern
    for info in pkgutil.iter_modules(dlp.__path__):
        module = importlib.import_module(f"palaryn_proxy.dlp.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                yield f"{info.name}.{name}", value


def _unbounded(tree: Any) -> Iterator[str]:
    """Greedy or lazy repeats without an upper bound (possessive ones cannot backtrack and are allowed)."""
    for op, av in tree:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            if hi == C.MAXREPEAT:
                yield f"{op} {{{lo},}}"
            yield from _unbounded(sub)
        elif op == C.POSSESSIVE_REPEAT:
            yield from _unbounded(av[2])
        elif op == C.SUBPATTERN:
            yield from _unbounded(av[3])
        elif op == C.BRANCH:
            for branch in av[1]:
                yield from _unbounded(branch)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            yield from _unbounded(av[1])
        elif op == C.ATOMIC_GROUP:
            yield from _unbounded(av)
        elif op == C.GROUPREF_EXISTS:
            yield from _unbounded(av[1])
            if av[2] is not None:
                yield from _unbounded(av[2])


def test_every_repetition_is_bounded_or_possessive() -> None:
    patterns = list(_all_patterns())
    assert len(patterns) > 100
    bad = {name: list(_unbounded(P.parse(p.pattern, p.flags))) for name, p in patterns}
    assert not {k: v for k, v in bad.items() if v}


N = 64 * 1024
HOSTILE = {
    "letters": "a" * N,
    "openai_prefixes": "sk-proj-" * (N // 8),
    "github_prefixes": "ghp_" * (N // 4),
    "jwt_prefixes": "eyJ" * (N // 3),
    "pem_headers": "-----BEGIN PRIVATE KEY-----\n" * (N // 28),
    "pem_body": "-----BEGIN PRIVATE KEY-----\n" + "QUFB\n" * (N // 5),
    "base64_run": "aB3+" * (N // 4),
    "digits": "4" * N,
    "digit_groups": "12-" * (N // 3),
    "spaced_digits": "1 " * (N // 2),
    "at_signs": "a@" * (N // 2),
    "assignments": "password=" * (N // 9),
    "quotes": '"' * N,
    "backslashes": "\\" * N,
    "unicode_escapes": '{"a": "' + "\\u0041" * (N // 6) + '"}',
    "deep_json": "[" * N,
    "html_comments": "<!--" * (N // 4),
    "html_tags": "<" * N,
    "hidden_styles": '<div style="display:none">' * (N // 26),
    "zero_width": "\u200b" * N,
    "homoglyphs": "а" * N,
    "tag_chars": "\U000e0041" * (N // 4),
    "percent": "%41" * (N // 3),
    "url_userinfo": "https://a:" * (N // 10),
    "injection_words": "ignore previous instructions " * (N // 29),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs_scan_in_bounded_time(scanner: DlpScanner, name: str) -> None:
    body = HOSTILE[name].encode("utf-8", "surrogatepass")
    started = time.monotonic()
    for ct in ("text/plain", "application/json", "text/html", "application/x-www-form-urlencoded"):
        scanner.scan_request(
            host="x.example", path_and_query="/?" + HOSTILE[name][:4096], body=body, content_type=ct
        )
        scanner.scan_response(host="x.example", body=body, content_type=ct)
    stream = scanner.stream_scanner(content_type="text/event-stream")
    for i in range(0, len(body), 4096):
        stream.feed(body[i : i + 4096])
    stream.finish()
    # Generous bound (~100x the measured time): a quadratic pattern on 64 KB would take minutes.
    assert time.monotonic() - started < 10.0
