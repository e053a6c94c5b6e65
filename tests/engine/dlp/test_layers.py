"""Decoding layers: each layer's encodings found with real-format secrets and PII, look-alikes left alone,
offsets leading back to exactly the encoded original, and the redacted result."""

from __future__ import annotations

import base64
import codecs
import gzip
import json
import random
import re
import zlib
from collections.abc import Callable, Iterator
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner
from palaryn_proxy.dlp.config import DecodeConfig
from palaryn_proxy.dlp.layer_text import Probe
from palaryn_proxy.dlp.layers import LAYER_TRIGGERS, LAYERS, expand, windows
from palaryn_proxy.dlp.model import ScanResult
from palaryn_proxy.dlp.offsets import MapBuilder, OffsetMap, to_source
from palaryn_proxy.dlp.redact import marker
from palaryn_proxy.dlp.segment import Segment
from palaryn_proxy.errors import ConfigError

GH = fake("github_pat", 11)
OPENAI = fake("openai_project_key", 12)
AWS = fake("aws_access_key_id", 13)
SLACK = fake("slack_bot_token", 14)
EMAIL = "jane.doe@acme-corp.io"


def tags(text: str) -> str:
    return "".join(chr(0xE0000 + ord(c)) for c in text)


def entities_dec(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


def pct(text: str) -> str:
    return "".join(f"%{b:02X}" for b in text.encode())


def scan(scanner: DlpScanner, body: bytes, ct: str = "text/plain") -> ScanResult:
    return scanner.scan_request(host="x.example", body=body, content_type=ct)


def expect_redacted(
    scanner: DlpScanner, text: str, encoded: str, type_: str, ct: str = "text/plain", codec: str = "utf-8"
) -> None:
    """`encoded` (a part of `text`) is found as `type_`, its finding spans exactly its bytes, and redaction
    replaces exactly those bytes."""
    body = text.encode(codec)
    raw = encoded.encode(codec)
    result = scan(scanner, body, ct)
    found = [f for f in result.findings if f.type == type_]
    assert found, f"{type_} not found in {text[:120]!r}: {[f.type for f in result.findings]}"
    start = body.index(raw)
    assert (found[0].start, found[0].end) == (start, start + len(raw))
    assert result.redacted_body == body.replace(raw, marker(type_).encode(codec))


# -- each layer: a secret in real format, its span, the redacted body ---------------------------------------

CASES: dict[str, tuple[str, str, str]] = {  # name -> (text, the encoded part, type)
    "hex lower": (f"token={GH.encode().hex()} ok", GH.encode().hex(), "github_pat"),
    "hex upper": (f"blob {OPENAI.encode().hex().upper()}\n", OPENAI.encode().hex().upper(), "openai_project_key"),
    "hex pairs": (f"dump: {' '.join(f'{b:02x}' for b in GH.encode())} end", " ".join(f"{b:02x}" for b in GH.encode()), "github_pat"),
    "hex colons": (f"k {':'.join(f'{b:02X}' for b in AWS.encode())}.", ":".join(f"{b:02X}" for b in AWS.encode()), "aws_access_key_id"),
    "hex C array": (f"char k[] = {{{', '.join(f'0x{b:02x}' for b in GH.encode())}}};", ", ".join(f"0x{b:02x}" for b in GH.encode()), "github_pat"),
    "hex escapes": (f'k = "{"".join(f"\\x{b:02x}" for b in GH.encode())}"', "".join(f"\\x{b:02x}" for b in GH.encode()), "github_pat"),
    "hex of gzip": (f"data {gzip.compress(GH.encode()).hex()} ", gzip.compress(GH.encode()).hex(), "github_pat"),
    "entities decimal": (f"<p>{entities_dec(GH)}</p>", entities_dec(GH), "github_pat"),
    "entities hex": (f"<p>{''.join(f'&#x{ord(c):x};' for c in OPENAI)}</p>", "".join(f"&#x{ord(c):x};" for c in OPENAI), "openai_project_key"),
    "entities named": (f"key: {GH[:3]}&lowbar;{GH[4:]} end", f"{GH[:3]}&lowbar;{GH[4:]}", "github_pat"),
    "entities partial": (f"slack {SLACK[:5]}{entities_dec(SLACK[5:9])}{SLACK[9:]} x", f"{SLACK[:5]}{entities_dec(SLACK[5:9])}{SLACK[9:]}", "slack_bot_token"),
    "escapes \\u": ("t " + "".join(f"\\u{ord(c):04x}" for c in GH) + " t", "".join(f"\\u{ord(c):04x}" for c in GH), "github_pat"),
    "escapes doubled": ("t " + "".join(f"\\\\u{ord(c):04x}" for c in GH[:8]) + GH[8:] + " t", "".join(f"\\\\u{ord(c):04x}" for c in GH[:8]) + GH[8:], "github_pat"),
    "escapes octal": ("t " + "".join(f"\\{ord(c):03o}" for c in AWS) + " t", "".join(f"\\{ord(c):03o}" for c in AWS), "aws_access_key_id"),
    "escapes braces": ("t " + "".join(f"\\u{{{ord(c):x}}}" for c in GH) + " t", "".join(f"\\u{{{ord(c):x}}}" for c in GH), "github_pat"),
    "percent whole": (f"q {pct(GH)} q", pct(GH), "github_pat"),
    "percent partial": (f"see https://x.example/?t={GH[:3]}%5F{GH[4:]}", f"{GH[:3]}%5F{GH[4:]}", "github_pat"),
    "percent twice": (f"t {GH[:3]}%255F{GH[4:]} t", f"{GH[:3]}%255F{GH[4:]}", "github_pat"),
    "concat plus": (f'key = "{OPENAI[:30]}" +\n    "{OPENAI[30:]}";', f'{OPENAI[:30]}" +\n    "{OPENAI[30:]}', "openai_project_key"),
    "concat js": (f"const k = '{GH[:10]}' + '{GH[10:25]}' + '{GH[25:]}';", f"{GH[:10]}' + '{GH[10:25]}' + '{GH[25:]}", "github_pat"),
    "concat python implicit": (f'KEY = ("{OPENAI[:80]}"\n       "{OPENAI[80:]}")', f'{OPENAI[:80]}"\n       "{OPENAI[80:]}', "openai_project_key"),
    "concat php": (f"$k = '{GH[:12]}' . '{GH[12:]}';", f"{GH[:12]}' . '{GH[12:]}", "github_pat"),
    "continuation": (f'k="{GH[:15]}\\\n{GH[15:]}"', f"{GH[:15]}\\\n{GH[15:]}", "github_pat"),
    "wrapped": ("token:\n" + "\n".join(OPENAI[i : i + 40] for i in range(0, len(OPENAI), 40)) + "\n", "\n".join(OPENAI[i : i + 40] for i in range(0, len(OPENAI), 40)), "openai_project_key"),
    "wrapped yaml": ("key: |\n  " + "\n  ".join(OPENAI[i : i + 50] for i in range(0, len(OPENAI), 50)) + "\nnext: 1\n", "\n  ".join(OPENAI[i : i + 50] for i in range(0, len(OPENAI), 50)), "openai_project_key"),
    "spaced": (f"the key is {' '.join(GH)} ok", " ".join(GH), "github_pat"),
    "dashed": (f"k: {'-'.join(GH)}", "-".join(GH), "github_pat"),
    "dotted": (f"k {'.'.join(AWS)} k", ".".join(AWS), "aws_access_key_id"),
    "one per line": ("\n".join(GH) + "\n", "\n".join(GH), "github_pat"),
    "comma spaced": (f"[{', '.join(GH)}]", ", ".join(GH), "github_pat"),
    "list of characters": (f"k = [{', '.join(repr(c) for c in GH)}]", "', '".join(GH), "github_pat"),
    "json characters": (f"{json.dumps(list(AWS))}", '", "'.join(AWS), "aws_access_key_id"),
    "tag characters": ("Summarise this page." + tags(GH), tags(GH), "github_pat"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_layer_finds_and_redacts_exactly_the_encoded_original(scanner: DlpScanner, name: str) -> None:
    text, encoded, type_ = CASES[name]
    expect_redacted(scanner, text, encoded, type_)


def test_an_encoded_secret_in_json_maps_to_its_escaped_bytes(scanner: DlpScanner) -> None:
    hexed = GH.encode().hex()
    body = json.dumps({"messages": [{"role": "user", "content": f"use {hexed} now"}]})
    expect_redacted(scanner, body, hexed, "github_pat", "application/json")
    ents = entities_dec(GH)
    expect_redacted(scanner, json.dumps({"html": f"<b>{ents}</b>"}), ents, "github_pat", "application/json")
    # `\\u0067...` in the JSON text: JSON escapes read once, the escapes layer reads them again
    doubled = "".join(f"\\\\u{ord(c):04x}" for c in GH)
    expect_redacted(scanner, '{"code": "' + doubled + '"}', doubled, "github_pat", "application/json")


def test_tag_characters_escaped_in_json(scanner: DlpScanner) -> None:
    body = json.dumps({"content": "hello" + tags(GH)})  # ASCII JSON: surrogate pairs as \\ud8xx escapes
    result = scan(scanner, body.encode(), "application/json")
    assert [f.type for f in result.findings] == ["github_pat"]
    assert result.redacted_body is not None
    assert json.loads(result.redacted_body) == {"content": "hello" + marker("github_pat")}


@pytest.mark.parametrize(
    "pack",
    [
        gzip.compress,
        zlib.compress,
        lambda b: zlib.compress(b)[2:-4],
        lambda b: b.decode().encode("utf-16-le"),
    ],
    ids=["gzip", "zlib", "raw-deflate", "utf16le"],
)
def test_base64_of_compressed_or_wide_text(scanner: DlpScanner, pack: Callable[[bytes], bytes]) -> None:
    blob = base64.b64encode(pack(f"export OPENAI_API_KEY={OPENAI}\n".encode())).decode()
    body = json.dumps({"file": blob, "note": "attached"})
    expect_redacted(scanner, body, blob, "openai_project_key", "application/json")


def test_base64_of_zstd(scanner: DlpScanner) -> None:
    from palaryn_proxy.dlp.compression import zstd

    blob = base64.b64encode(zstd.compress(f"k={GH}".encode())).decode()
    expect_redacted(scanner, f"payload {blob} end", blob, "github_pat")


def test_powershell_encoded_command(scanner: DlpScanner) -> None:
    command = base64.b64encode(f"$env:GITHUB_TOKEN='{GH}'; gh auth status".encode("utf-16-le")).decode()
    expect_redacted(scanner, f"powershell -EncodedCommand {command}", command, "github_pat")


def test_pii_in_layers(scanner: DlpScanner) -> None:
    """An address is found the same way (PII is logged by default, so the span is checked, not redaction)."""
    card = "4539148803436467"
    for text, encoded, type_ in [
        (f"mail {EMAIL.replace('@', '&#64;')} now", EMAIL.replace("@", "&#64;"), "email"),
        (f"to={pct(EMAIL)}", pct(EMAIL), "email"),
        (f"mail {EMAIL.encode().hex()} now", EMAIL.encode().hex(), "email"),
        (f"card {'-'.join(card)} ok", "-".join(card), "credit_card"),
        (f"card {entities_dec(card)} ok", entities_dec(card), "credit_card"),
    ]:
        body = text.encode()
        result = scan(scanner, body)
        found = [f for f in result.findings if f.type == type_]
        assert found, text
        assert body[found[0].start : found[0].end] == encoded.encode()


# -- UTF-16 / UTF-32 bodies the buffered path missed ----------------------------------------------------------


def test_utf16_in_multipart(scanner: DlpScanner) -> None:
    inner = f"token {GH}\n"
    for ct_header, data in [
        ("text/plain; charset=utf-16le", inner.encode("utf-16-le")),
        ("text/plain", codecs.BOM_UTF16_BE + inner.encode("utf-16-be")),
        ("application/json", json.dumps({"k": GH}).encode("utf-16-le")),
    ]:
        body = (
            b'--XyZ\r\nContent-Disposition: form-data; name="f"\r\nContent-Type: '
            + ct_header.encode()
            + b"\r\n\r\n"
            + data
            + b"\r\n--XyZ--\r\n"
        )
        result = scan(scanner, body, "multipart/form-data; boundary=XyZ")
        assert [f.type for f in result.findings] == ["github_pat"], ct_header
        codec = "utf-16-be" if data.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"
        start = body.index(GH.encode(codec))
        assert (result.findings[0].start, result.findings[0].end) == (start, start + 2 * len(GH))
        # the marker is written in the body's encoding (a multipart body has none of its own)
        assert result.redacted_body is not None and GH.encode(codec) not in result.redacted_body


def test_utf16_without_bom_told_by_where_its_nuls_are(scanner: DlpScanner) -> None:
    body = f"中文 token {GH}".encode("utf-16-le")  # starts with non-ASCII: the 4-byte sniff cannot tell
    result = scan(scanner, body, "text/plain; charset=utf-16")
    assert [f.type for f in result.findings] == ["github_pat"]
    assert result.redacted_body == body.replace(
        GH.encode("utf-16-le"), marker("github_pat").encode("utf-16-le")
    )


def test_utf16_declared_utf8_is_read_as_nul_interleaved(scanner: DlpScanner) -> None:
    body = f"token {GH} end".encode("utf-16-le")
    result = scan(scanner, body, "text/plain; charset=utf-8")
    assert [f.type for f in result.findings] == ["github_pat"]
    raw = GH.encode("utf-16-le")
    start = body.index(raw)
    assert (result.findings[0].start, result.findings[0].end) == (start, start + len(raw) - 1)


# -- look-alikes: nothing new is found -----------------------------------------------------------------------

NEGATIVES = [
    "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "md5 d41d8cd98f00b204e9800998ecf8427e and deadbeefdeadbeefdeadbeefdeadbeef and 00112233445566778899aabbccddeeff",
    "<p>Caf&eacute; &amp; cr&egrave;me &lt;b&gt;bold&lt;/b&gt; &nbsp; it&#8217;s &#39;quoted&#39; &copy; 2024 &#x2F;path&#x2F;</p>",
    "Open C:\\x64\\Users\\new\\table and \\u00e9t\\u00e9 \\n \\t \\\\server\\share",
    "https://docs.example.com/search?q=hello%20world&lang=en%2Dus&next=%2Fhome%2Findex.html",
    'greeting = "Hello, " + name + "!"\nlabel = "a" + "b"\nprint("x", "y")\npath = base + "/" + "api"',
    "a b c d e f g h i j k l m n o p q r s t u v w x y z\n1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
    "| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n- - - - - - - - - - - - - - - - - -\n* * * * * * * * *",
    "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f",
    "This paragraph is wrapped at seventy-two columns, as commit messages and\nplain-text e-mails often are, so every line is about the same length but\nnever exactly the same, and words are never cut in the middle of them.",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    base64.b64encode(gzip.compress(bytes(random.Random(3).randrange(256) for _ in range(300)))).decode(),
    "version 1.2.3.4.5.6.7.8.9.10 build 2024-06-03 uuid 550e8400-e29b-41d4-a716-446655440000",
]  # fmt: skip


@pytest.mark.parametrize("text", NEGATIVES, ids=range(len(NEGATIVES)))
def test_look_alikes_stay_clean(scanner: DlpScanner, text: str) -> None:
    assert scan(scanner, text.encode()).findings == []
    assert scan(scanner, json.dumps({"content": text}).encode(), "application/json").findings == []


# -- offsets ------------------------------------------------------------------------------------------------


def test_strided_and_spliced_maps() -> None:
    b = MapBuilder()
    b.copy("ab", 0)
    b.stride("xyz", 5, 3)  # source `x--y--z` at 5..12
    text, m = b.build()
    assert text == "abxyz"
    assert (m.start(2), m.end(5)) == (5, 12)  # from the first character to the last, no separator after
    assert (m.start(3), m.end(4)) == (8, 9)
    spliced = OffsetMap.spliced(10, [3, 4, 0, 2], [3, 1, 0, 2], [1, 0, 1, 1])  # copy, atomic, removed, copy
    assert spliced.length == 6
    assert [(spliced.start(i), spliced.end(i + 1)) for i in range(6)] == [
        (10, 11), (11, 12), (12, 13), (13, 17), (17, 18), (18, 19),
    ]  # fmt: skip


def test_windows_of_a_long_text_map_back() -> None:
    """A text longer than one window: readings around each encoded run, each mapping into the text."""
    filler = "lorem ipsum dolor sit amet " * 1000
    text = filler + "k=" + entities_dec(GH) + " " + filler + "m=" + pct(AWS) + " " + filler
    layer = next(la for la in LAYERS if la.name == "entities")
    rw = layer.read(Probe(text), DecodeConfig())
    assert rw is not None
    ((reading, m),) = windows(text, rw)
    assert len(reading) < 1000 and GH in reading
    at = reading.index(GH)
    assert text[m.start(at) : m.end(at + len(GH))] == entities_dec(GH)
    segments = expand([Segment(text, (), "body")], DecodeConfig())
    readings = [s for s in segments[1:]]
    assert sum(GH in s.text for s in readings) == 1 and sum(AWS in s.text for s in readings) == 1
    for seg in readings:
        for secret, encoded in ((GH, entities_dec(GH)), (AWS, pct(AWS))):
            if secret in seg.text:
                i = seg.text.index(secret)
                s, e = to_source(seg.maps, i, i + len(secret))
                assert text[s:e] == encoded


# -- triggers: Hyperscan-compatible, and a necessary condition -------------------------------------------------


_NOT_IN_HYPERSCAN = {
    C.ASSERT,
    C.ASSERT_NOT,
    C.GROUPREF,
    C.POSSESSIVE_REPEAT,
    C.ATOMIC_GROUP,
    C.GROUPREF_EXISTS,
}


def _ops(tree: Any) -> Iterator[Any]:
    """Every opcode of a parsed regex, recursively."""
    for op, av in tree:
        yield op
        subs = av if isinstance(av, list | tuple) else ()
        for sub in subs:
            if isinstance(sub, P.SubPattern):
                yield from _ops(sub)
            elif isinstance(sub, list):
                for item in sub:
                    if isinstance(item, P.SubPattern):
                        yield from _ops(item)


def test_triggers_compile_for_python_and_hyperscan() -> None:
    assert set(LAYER_TRIGGERS) >= {la.name for la in LAYERS} | {"tags"}
    for name, pattern in LAYER_TRIGGERS.items():
        assert not set(_ops(P.parse(pattern))) & _NOT_IN_HYPERSCAN, name
    hyperscan = pytest.importorskip("hyperscan")
    for pattern in LAYER_TRIGGERS.values():
        for flags in (0, hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP):
            db = hyperscan.Database()
            db.compile(expressions=[pattern.encode()], ids=[0], elements=1, flags=[flags])


def _fragments(rnd: random.Random) -> str:
    parts = [
        GH, "6768705f", "&#103;", "&lowbar;", "\\u0067", "\\x67", "\\\\u0067", "%5F", "%25", '" + "', "' '",
        "\\\n", "\n", " ", "-", ".", "\x00", "0x67, ", "g h p ", "a", "é", '"', "AAAAAAAAAAAAAAAA", "&",
    ]  # fmt: skip
    return "".join(rnd.choice(parts) for _ in range(rnd.randint(1, 60)))


def test_a_layer_reads_nothing_where_its_trigger_is_absent() -> None:
    """What the lead's prefilter relies on: a layer that reads something in a text has its trigger there."""
    rnd = random.Random(7)
    decode = DecodeConfig()
    triggers = {name: re.compile(p) for name, p in LAYER_TRIGGERS.items()}
    texts = [_fragments(rnd) for _ in range(3000)] + [t for t, _, _ in CASES.values()] + NEGATIVES
    read = 0
    for text in texts:
        probe = Probe(text)
        for layer in LAYERS:
            rw = layer.read(probe, decode)
            if rw is not None and rw.marks:
                read += 1
                assert triggers[layer.name].search(text), (layer.name, text)
            if not layer.quick(probe):
                assert rw is None or not rw.marks, (layer.name, text)
    assert read > 500


# -- config ---------------------------------------------------------------------------------------------------


def test_switches_and_limits() -> None:
    cfg = DlpConfig.from_mapping({"decode": {"hex": False, "layers_max_runs": 4, "spaced_min_chars": 20}})
    assert cfg.decode.hex is False and cfg.decode.layers_max_runs == 4 and cfg.decode.spaced_min_chars == 20
    for bad, key in [
        ({"entities": "yes"}, "dlp.decode.entities"),
        ({"hex_min_length": 8}, "dlp.decode.hex_min_length"),
        ({"layers_max_runs": 0}, "dlp.decode.layers_max_runs"),
        ({"layers_max_chars": -1}, "dlp.decode.layers_max_chars"),
        ({"spaced_min_chars": True}, "dlp.decode.spaced_min_chars"),
        ({"rot13": True}, "dlp.decode.rot13"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(key)):
            DlpConfig.from_mapping({"decode": bad})
    seg = [Segment(f"x {GH.encode().hex()} {entities_dec(GH)}", (), "body")]
    assert [s.text for s in expand(seg, DecodeConfig())[1:]] != []
    assert expand(seg, DecodeConfig(hex=False, entities=False)) == seg
    assert expand(seg, DecodeConfig(layers_max_depth=0)) == seg
    assert expand(seg, DecodeConfig(layers_max_chars=0)) == seg
    spaced = [Segment(" ".join(GH), (), "body")]
    assert len(expand(spaced, DecodeConfig(spaced_min_chars=64))) == 1


def test_decoded_children_honour_the_config() -> None:
    """Children of base64 blobs are read by the layers the engine's config switches on."""
    inner = base64.b64encode(f"k={entities_dec(GH)}".encode()).decode()
    on = DlpScanner(DlpConfig.from_mapping({}))
    off = DlpScanner(DlpConfig.from_mapping({"decode": {"entities": False}}))
    assert [f.type for f in scan(on, f"x {inner} y".encode()).findings] == ["github_pat"]
    assert scan(off, f"x {inner} y".encode()).findings == []


def test_resent_text_with_an_encoded_secret_is_found_every_time() -> None:
    """The clean-text cache remembers the original text; its readings are scanned again each time."""
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    history = "Notes from the deploy, kept for the next turn. " * 4 + f"key {entities_dec(GH)} end"
    body = json.dumps({"messages": [{"role": "user", "content": history}]}).encode()
    for _ in range(3):
        assert [f.type for f in scan(scanner, body, "application/json").findings] == ["github_pat"]


def test_nested_layers_read_each_other() -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    percent_entities = pct(entities_dec(GH))  # %26%23103%3B...
    expect_redacted(scanner, f"x {percent_entities} y", percent_entities, "github_pat")
    hex_b64 = base64.b64encode(GH.encode()).hex()  # hex of base64
    expect_redacted(scanner, f"x {hex_b64} y", hex_b64, "github_pat")
    b64_hex = base64.b64encode(f"k {GH.encode().hex()}".encode()).decode()  # base64 of hex
    expect_redacted(scanner, f"x {b64_hex} y", b64_hex, "github_pat")


# -- streams ---------------------------------------------------------------------------------------------------


def _stream(scanner: DlpScanner, data: bytes, ct: str, chunk: int) -> tuple[bytes, list[str]]:
    s = scanner.stream_scanner(content_type=ct)
    out = b"".join(s.feed(data[i : i + chunk]) for i in range(0, len(data), chunk)) + s.finish()
    return out, [f.type for f in s.findings]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 4096])
@pytest.mark.parametrize(
    ("ct", "codec", "bom"),
    [
        ("text/plain; charset=utf-16le", "utf-16-le", b""),
        ("text/plain", "utf-16-le", codecs.BOM_UTF16_LE),
        ("text/plain; charset=utf-16be", "utf-16-be", b""),
        ("application/octet-stream", "utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
def test_a_utf16_stream_is_decoded_and_redacted_in_its_encoding(
    scanner: DlpScanner, ct: str, codec: str, bom: bytes, chunk: int
) -> None:
    text = "中文 log line 😀\n" * 40 + f"token {GH} end\n" + "tail 😀 line\n" * 40
    data = bom + text.encode(codec)
    out, types = _stream(scanner, data, ct, chunk)
    assert types == ["github_pat"]
    assert out == bom + text.replace(GH, marker("github_pat")).encode(codec)


def test_an_encoded_token_streamed_over_sse(scanner: DlpScanner) -> None:
    encoded = entities_dec(GH)
    pieces = ["The key: ", encoded[:40], encoded[40:130], encoded[130:], " done."]
    data = "".join(f"data: {json.dumps({'delta': {'text': p}})}\n\n" for p in pieces).encode()
    out, types = _stream(scanner, data, "text/event-stream", 37)
    assert types == ["github_pat"]
    texts = [json.loads(line[6:])["delta"]["text"] for line in out.decode().split("\n\n") if line]
    assert "".join(texts) == f"The key: {marker('github_pat')} done."


def test_random_text_never_breaks_a_layer() -> None:
    """Fragments of every encoding, cut anywhere and mixed with odd characters: readings map inside the text."""
    rnd = random.Random(11)
    odd = [
        "\ud800",
        "\udcff",
        "\x00",
        "😀",
        "é",
        "\U000e0041",
        "&#1114112;",
        "&#xD800;",
        "\\U0011ffff",
        "%ff%fe",
    ]
    for _ in range(1500):
        text = _fragments(rnd)
        cut = rnd.randrange(len(text) + 1)
        text = text[:cut] + rnd.choice(odd) + text[cut:]
        for seg in expand([Segment(text, (), "body")], DecodeConfig())[1:]:
            s, e = to_source(seg.maps, 0, len(seg.text))
            assert 0 <= s <= e <= len(text)
