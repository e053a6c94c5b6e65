"""No catastrophic backtracking and no rescans: repetitions are bounded or possessive, hostile inputs scan linearly."""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Callable, Iterator
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

import pytest
from dlp_fakes import fake

import palaryn_proxy.dlp as dlp
from palaryn_proxy.dlp import ALL_DETECTORS, DlpScanner, StreamScanner, stream
from palaryn_proxy.dlp.blobs import MAX_BLOB, blob_spans
from palaryn_proxy.dlp.config import DecodeConfig
from palaryn_proxy.dlp.injection import InjectionDetector
from palaryn_proxy.dlp.injection_rules import RULES
from palaryn_proxy.dlp.jsonscan import MIN_TEXT
from palaryn_proxy.dlp.layers import expand
from palaryn_proxy.dlp.segment import Segment
from palaryn_proxy.providers.eventstream import EventStreamDecoder, encode_message
from palaryn_proxy.providers.frames import Frame, Framer
from palaryn_proxy.providers.jsonarray import JSONArrayDecoder
from palaryn_proxy.providers.ndjson import NDJSONDecoder
from palaryn_proxy.providers.sse import SSEDecoder


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
    # decoding layers (layers.py): each one's encoded runs, dense and glued
    "entities": "&#103;" * (N // 6),
    "entities_glued": "a&#103;&lowbar;" * (N // 15),
    "escapes": "a\\u0067\\x68" * (N // 13),
    "escaped_backslashes": "\\\\\\u0067" * (N // 9),
    "percent_runs": "a%67%2" * (N // 6),
    "hex_runs": ("6768705f" * 5 + " ") * (N // 41),
    "hex_pairs": "67 68 70 5f " * (N // 12),
    "joints": '"ab" + "cd" ' * (N // 12),
    "continuations": "ab\\\n" * (N // 5),
    "wrapped_lines": ("A1b2" * 10 + "\n") * (N // 41),
    "spaced": "g h p a b c d e " * (N // 16),
    "one_per_line": "g\nh\np\n_\n" * (N // 8),
    "nul_interleaved": "t\x00o\x00k\x00e\x00n\x00 \x00" * (N // 12),
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


# -- linear scaling: each family at n and 8n characters ----------------------------------------------------
# Time, not an absolute bound: a linear scan takes about 8x as long on 8x the input, a quadratic one 64x.
# Ratios above 30x fail; a retry absorbs a burst of load on a shared machine.

_N = 32 * 1024
_FLOOR = 0.004  # seconds: shorter runs are timer noise


def _seconds(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _assert_linear(run_at: Callable[[int], Callable[[], object]], n: int = _N) -> None:
    small, large = run_at(n), run_at(8 * n)
    t1 = max(_seconds(small, 2), _FLOOR)
    t8 = _seconds(large, 1)
    if t8 > 30 * t1:
        t8 = min(t8, _seconds(large, 1))
    assert t8 < 30 * t1, f"{t8:.3f} s at 8n vs {t1:.3f} s at n"
    assert t8 < 10.0


def _fill(unit: str, n: int) -> str:
    return unit * max(1, n // len(unit))


_BODIES: dict[str, Callable[[int], tuple[str, str]]] = {  # n -> (text, content type)
    "base64 run, then `!`": lambda n: (_fill("QUJD", n) + "!", "text/plain"),
    "base64 run, then `===`": lambda n: (_fill("QUJD", n) + "===", "text/plain"),
    "base64 run, then `=` and base64": lambda n: (_fill("QUJD", n) + "=QUJD", "text/plain"),
    "base64 after a non-ASCII character": lambda n: ("é" + _fill("QUJD", n) + "===", "text/plain"),
    "base64 JSON field": lambda n: ('{"file": "' + _fill("QUJD", n) + '"}', "application/json"),
    "digits": lambda n: (_fill("4", n), "text/plain"),
    "digit groups": lambda n: (_fill("4111 ", n), "text/plain"),
    "digits and dots": lambda n: (_fill("1.", n), "text/plain"),
    "spaces": lambda n: (_fill(" ", n), "text/plain"),
    "`a@`": lambda n: (_fill("a@", n), "text/plain"),
    "email labels": lambda n: (_fill("a-b.", n) + "@" + _fill("a-b.", n), "text/plain"),
    "dashes": lambda n: (_fill("-", n), "text/plain"),
    "hex": lambda n: (_fill("0123456789abcdef", n), "text/plain"),
    "`key=` chains": lambda n: (_fill("key=", n), "text/plain"),
    "`password=` chains": lambda n: (_fill("password=", n), "text/plain"),
    "`eyJ` prefixes": lambda n: (_fill("eyJ", n), "text/plain"),
    "session token prefixes": lambda n: (_fill("IQoJb3JpZ2luX2Vj", n), "text/plain"),
    "PEM body without END": lambda n: ("-----BEGIN PRIVATE KEY-----\n" + _fill("QUFB\n", n), "text/plain"),
    "`\\u0000` escapes": lambda n: ('{"x": "' + _fill("\\u0000", n) + '"}', "application/json"),
    "backslashes in JSON": lambda n: ('{"x": "' + _fill("\\\\", n) + '"}', "application/json"),
    "deep JSON, many strings, a finding": lambda n: (  # 8n: 8192 levels, below json.loads' limit
        "[" * (n // 32) + _fill('"a1b2c",', n) + '"jane.doe@acme-corp.io"' + "]" * (n // 32),
        "application/json",
    ),
    "tiny JSON strings": lambda n: ("[" + _fill('"ab",', n) + '""]', "application/json"),
    "percent escapes in a form": lambda n: ("q=" + _fill("%41", n), "application/x-www-form-urlencoded"),
    "hidden HTML elements": lambda n: (_fill("<div hidden ", n), "text/html"),
    "HTML comments": lambda n: (_fill("<!--", n), "text/html"),
    "injection phrases": lambda n: (_fill("send the token to ", n), "text/plain"),
    "HTML entities, glued": lambda n: (_fill("a&#103;&#x68;", n), "text/plain"),
    "escapes, glued": lambda n: (_fill("a\\u0067", n), "text/plain"),
    "percent runs": lambda n: (_fill("a%67%68", n), "text/plain"),
    "hex runs of text": lambda n: (_fill("6768705f6768705f6768705f6768705f ", n), "text/plain"),
    "string concatenations": lambda n: (_fill('"ab" + "cd" ', n), "text/plain"),
    "wrapped lines": lambda n: (_fill("A1b2c3d4e5f6g7h8i9j0\n", n), "text/plain"),
    "spaced characters": lambda n: (_fill("g h p a b c d e ", n), "text/plain"),
    "NUL-interleaved": lambda n: (_fill("t\x00o\x00k\x00 \x00", n), "text/plain"),
}


@pytest.mark.parametrize("name", sorted(_BODIES))
def test_whole_body_scans_are_linear(scanner: DlpScanner, name: str) -> None:
    def run_at(n: int) -> Callable[[], object]:
        text, ct = _BODIES[name](n)
        body = text.encode("utf-8")
        return lambda: (
            scanner.scan_request(host="x.example", body=body, content_type=ct),
            scanner.scan_response(host="x.example", body=body, content_type=ct),
        )

    _assert_linear(run_at)


def test_blob_runs_longer_than_the_cap_are_looked_at_once() -> None:
    """The freeze: a base64 run past MAX_BLOB followed by a non-base64 character once cost a rescan of up to
    1 MiB from each later start (1 MiB + 4000 characters: seconds; 16 MiB: minutes)."""
    text = "QUJD" * (MAX_BLOB // 4 + 1000) + "!"
    started = time.perf_counter()
    assert list(blob_spans(text, 24)) == [(len(text) - 1 - MAX_BLOB, len(text) - 1)]
    assert list(blob_spans("é" + text, 24)) == [(len(text) - MAX_BLOB, len(text))]
    assert not list(blob_spans(text[:-1] + "===", 24))
    assert time.perf_counter() - started < 2.0  # the rescans took > 5 s
    _assert_linear(lambda n: lambda: list(blob_spans(_fill("QUJD", n) + "=!", 24, cap=4096)))


def test_injection_channels_are_linear() -> None:
    detector = InjectionDetector()
    _assert_linear(lambda n: lambda: detector.score_text(_fill("QUJD", n) + "===" + _fill("aGk=", n)))
    _assert_linear(lambda n: lambda: detector.score_body(_fill("<a alt='", n).encode(), "text/html", "x"))


def test_a_16_mib_base64_field_is_scanned_up_to_max_scan_bytes(scanner: DlpScanner) -> None:
    secret = fake("github_pat")
    body = ('{"token": "' + secret + '", "file": "' + "QUJD" * (4 << 20) + '"}').encode()
    result = scanner.scan_request(host="uploads.example", body=body, content_type="application/json")
    assert result.oversize and result.notes[0].rule == "max_scan_bytes"
    assert [f.type for f in result.findings] == ["github_pat"]
    assert result.action == "redact" and result.redacted_body is not None
    assert secret not in result.redacted_body.decode() and len(result.redacted_body) < len(body)


# -- streams: one huge event or line in 16 KiB chunks -----------------------------------------------------


def _feed(scanner: StreamScanner, data: bytes, chunk: int = 16 * 1024) -> bytes:
    out = [scanner.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return b"".join(out) + scanner.finish()


def test_one_huge_sse_event_is_searched_once(scanner: DlpScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: the event-end search over the buffer resumes where it stopped."""
    searched = [0]
    sse_end = stream._SSE_END

    class Counting:
        def finditer(self, buf: bytes, pos: int = 0) -> Iterator[re.Match[bytes]]:
            searched[0] += len(buf) - pos
            return sse_end.finditer(buf, pos)

    monkeypatch.setattr(stream, "_SSE_END", Counting())
    payload = b'data: {"choices":[{"delta":{"content":"' + b"QUJD" * (1 << 18) + b'"}}]}\r\n\r\n'
    assert _feed(scanner.stream_scanner(content_type="text/event-stream"), payload) == payload
    chunks = -(-len(payload) // (16 * 1024))
    assert searched[0] <= len(payload) + 3 * chunks


def _emails_across_events(n: int) -> bytes:
    """Emails back to back, 7 characters per event: a finding straddles nearly every event boundary, and
    after a forced release one straddles the released text (this once looped forever)."""
    text = "".join(f"user{i}@acme-corp.io," for i in range(n // 160))
    return b"".join(
        b'data: {"delta":{"text":"' + text[i : i + 7].encode() + b'"}}\n\n' for i in range(0, len(text), 7)
    )


@pytest.mark.parametrize(
    ("ct", "make"),
    [
        ("text/event-stream", lambda n: b'data: {"delta":{"text":"' + b"a@" * (n // 2) + b'"}}\n\n'),
        ("text/event-stream", lambda n: b'data: {"delta":{"text":"tok "}}\n\n' * (n // 32)),
        ("application/x-ndjson", lambda n: b'{"response":"' + b"1 " * (n // 2) + b'"}\n'),
        ("text/plain", lambda n: b"QUJD" * (n // 4) + b"!"),
        ("text/event-stream", lambda n: _emails_across_events(n)),
    ],
    ids=["sse-one-event", "sse-token-deltas", "ndjson-one-line", "raw", "sse-findings-across-events"],
)
def test_stream_scans_are_linear(scanner: DlpScanner, ct: str, make: Callable[[int], bytes]) -> None:
    def run_at(n: int) -> Callable[[], object]:
        data = make(n)

        return lambda: _feed(scanner.stream_scanner(content_type=ct), data)

    _assert_linear(run_at, 64 * 1024)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SSEDecoder(),
        lambda: NDJSONDecoder(),
        lambda: JSONArrayDecoder(),
        lambda: EventStreamDecoder(),
    ],
    ids=["sse", "ndjson", "json-array", "eventstream"],
)
def test_provider_framers_are_linear_on_one_huge_frame(make: Callable[[], Framer]) -> None:
    def data(n: int, framer: Framer) -> bytes:
        if isinstance(framer, SSEDecoder):
            return b"data: " + b"x" * n + b"\n\n"
        if isinstance(framer, NDJSONDecoder):
            return b'{"a":"' + b"x" * n + b'"}\n'
        if isinstance(framer, JSONArrayDecoder):
            return b'[{"a":"' + b"\\\\" * (n // 2) + b'"}]'
        return encode_message({":event-type": "chunk"}, b"x" * n)

    def run_at(n: int) -> Callable[[], object]:
        def run() -> list[Frame]:
            framer = make()
            body = data(n, framer)
            frames: list[Frame] = []
            for i in range(0, len(body), 4096):
                frames += framer.feed(body[i : i + 4096])
            return frames + framer.close()

        return run

    _assert_linear(run_at, 96 * 1024)  # 8n (768 KiB) stays below the 1 MiB frame cap


def test_detector_patterns_match_at_least_min_text_characters() -> None:
    """json_segments skips strings shorter than MIN_TEXT: no pattern may match in fewer characters."""
    for d in ALL_DETECTORS:
        assert P.parse(d.pattern.pattern, d.pattern.flags).getwidth()[0] >= MIN_TEXT, d.type


# -- decoding layers alone: a MiB of each one's hostile shapes -------------------------------------------------

_MIB = 1 << 20
# Each layer's own work (trigger tests, reading, windows, folding of what it read) per MiB of input. The
# target is 100 ms/MiB (measured 7-60 ms/MiB on an idle 2-core machine); the bound leaves room for a loaded
# shared one. `entities, distinct` is as slow as folding the same characters sent as they are.
_LAYER_BOUND_S = 0.3
_LAYER_SHAPES: dict[str, str] = {
    "entities, dense": "&#65;",
    "entities, glued": "a&#65;",
    "entities, named": "a&lowbar;",
    "escapes, dense": "\\u0041",
    "escapes, glued": "a\\x41",
    "escapes, braces": "a\\u{41}",
    "backslashes": "\\",
    "percent, glued": "a%41",
    "percent of percent": "%25",
    "hex, random runs": "0123456789abcdef0123456789abcdef!",
    "hex, text runs": "6768705f6768705f6768705f6768705f!",
    "hex, one run": "0123456789abcdef",
    "hex, pairs": "67 68 70 5f 67 68 70 5f 67 68 70 5f 67 68 70 5f!",
    "joints": '"a" + "b" + ',
    "joints, lines": '"ab"\n"cd"\n',
    "quotes": '"',
    "continuations": "ab\\\n",
    "wrapped lines": "A" * 40 + "\n",
    "two-line wraps": "A" * 20 + "\nB\n\n",
    "spaced, one": "a b ",
    "spaced, lines": "a b c d e f g h i j k l m n o p\n",
    "spaced, dashes": "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p ",
    "one per line": "a\nb\nc\nd\ne\nf\ng\nh\n",
    "NUL-interleaved": "a\x00",
    "tag characters": "\U000e0041",
    "prose": 'The quick brown fox jumps over the lazy dog; it\'s 5% of "all" the time & more.\n',
}


@pytest.mark.parametrize("name", sorted(_LAYER_SHAPES))
def test_layers_read_a_mib_of_hostile_text_in_bounded_time(name: str) -> None:
    unit = _LAYER_SHAPES[name]
    text = _fill(unit, _MIB * len(unit) // len(unit.encode("utf-8", "surrogatepass")))  # a MiB of UTF-8
    segments = [Segment(text, (), "body")]

    def run() -> object:
        return expand(segments, DecodeConfig())

    best = min(_cpu(run) for _ in range(2))
    assert best < _LAYER_BOUND_S, f"{best * 1000:.0f} ms for a MiB of {name}"
    _assert_linear(lambda n: lambda: expand([Segment(_fill(unit, n), (), "body")], DecodeConfig()))


def _cpu(run: Callable[[], object]) -> float:
    started = time.process_time()  # CPU time: other processes on a shared machine do not count
    run()
    return time.process_time() - started
