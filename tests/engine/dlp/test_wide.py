"""UTF-16 and UTF-32 bodies: found by BOM, charset or NUL pattern, scanned, and redacted in their own encoding."""

from __future__ import annotations

import codecs
import json

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp import DlpScanner
from palaryn_proxy.dlp.wide import Wide, decode, detect

_BOM = {
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


def _doc(secret: str) -> str:
    """A chat request with characters of 1, 2, 3 and 4 UTF-8 bytes (a surrogate pair in UTF-16) before the secret."""
    content = (
        f"déjà vu 😀 中文: export GITHUB_TOKEN={secret} and AWS_ACCESS_KEY_ID={fake('aws_access_key_id')}"
    )
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}, ensure_ascii=False)


@pytest.mark.parametrize("codec", sorted(_BOM))
@pytest.mark.parametrize("with_bom", [True, False])
def test_a_secret_in_a_wide_json_body_is_found_and_redacted(
    scanner: DlpScanner, codec: str, with_bom: bool
) -> None:
    secret = fake("github_pat")
    bom = _BOM[codec] if with_bom else b""
    body = bom + _doc(secret).encode(codec)
    result = scanner.scan_request(host="api.openai.com", body=body, content_type="application/json")
    assert sorted(f.type for f in result.findings) == ["aws_access_key_id", "github_pat"]
    assert {f.location for f in result.findings} == {"request.body:$.messages[0].content"}
    github = next(f for f in result.findings if f.type == "github_pat")
    assert body[github.start : github.end].decode(codec) == secret  # offsets are bytes of the body as sent
    assert result.action == "redact" and result.redacted_body is not None
    assert result.redacted_body.startswith(bom)
    redacted = json.loads(result.redacted_body[len(bom) :].decode(codec))
    content = redacted["messages"][0]["content"]
    assert "[REDACTED:github_pat]" in content and "[REDACTED:aws_access_key_id]" in content
    assert secret not in content and content.startswith("déjà vu 😀 中文: export GITHUB_TOKEN=")


@pytest.mark.parametrize(
    ("ct", "codec"),
    [
        ("text/plain; charset=utf-16le", "utf-16-le"),
        ("text/plain; charset=UTF-16BE", "utf-16-be"),
        ('text/plain; charset="utf-32"', "utf-32-be"),
        ("application/x-www-form-urlencoded; charset=utf-16le", "utf-16-le"),
    ],
)
def test_a_charset_parameter_names_the_encoding(scanner: DlpScanner, ct: str, codec: str) -> None:
    secret = fake("github_pat")
    text = f"token={secret}" if "form" in ct else f"中文 token {secret}"
    result = scanner.scan_request(host="x.example", body=text.encode(codec), content_type=ct)
    assert [f.type for f in result.findings] == ["github_pat"]
    assert result.redacted_body is not None and secret not in result.redacted_body.decode(codec)


def test_a_wide_response_is_scanned(scanner: DlpScanner) -> None:
    secret = fake("github_pat")
    body = codecs.BOM_UTF16_LE + json.dumps({"output": f"here: {secret}"}).encode("utf-16-le")
    result = scanner.scan_response(host="x.example", body=body, content_type="application/json")
    assert [f.type for f in result.findings] == ["github_pat"]
    assert result.redacted_body is not None and result.redacted_body.startswith(codecs.BOM_UTF16_LE)
    assert json.loads(result.redacted_body[2:].decode("utf-16-le")) == {
        "output": "here: [REDACTED:github_pat]"
    }


def test_detection() -> None:
    assert detect(codecs.BOM_UTF32_LE + "{}".encode("utf-32-le"), "") == Wide("utf-32-le", 4)
    assert detect(codecs.BOM_UTF16_LE + b"{\x00}\x00", "") == Wide("utf-16-le", 2)
    assert detect('{"a"'.encode("utf-16-le"), "application/json") == Wide("utf-16-le")
    assert detect('{"a"'.encode("utf-16-be"), "") == Wide("utf-16-be")
    assert detect("[1]".encode("utf-32-be"), "") == Wide("utf-32-be")
    assert detect("[1]".encode("utf-32-le"), "application/json") == Wide("utf-32-le")
    assert detect("中文".encode("utf-16-le"), "text/plain; charset=utf-16") == Wide("utf-16-be")  # RFC 2781
    assert detect(b'{"a": 1}', "application/json") is None
    assert detect('{"a"'.encode("utf-16-le"), "application/json; charset=utf-8") is None  # declared
    assert detect(b"\x00\x00\x00\x00", "") is None


def test_decoding_maps_characters_to_their_bytes() -> None:
    text = "a😀\ud800b"  # a surrogate pair and a lone surrogate
    body = codecs.BOM_UTF16_BE + text.encode("utf-16-be", "surrogatepass") + b"\x00"  # a stray last byte
    decoded = decode(body, Wide("utf-16-be", 2))
    assert decoded is not None
    out, offsets = decoded
    assert out == text
    assert [(offsets.start(i), offsets.end(i + 1)) for i in range(4)] == [(2, 4), (4, 8), (8, 10), (10, 12)]
    bad = "a".encode("utf-32-le") + (0x110000).to_bytes(4, "little") + "b".encode("utf-32-le")
    decoded = decode(bad, Wide("utf-32-le"))
    assert decoded is not None and decoded[0] == "a\ufffdb"
    assert decoded[1].start(2) == 8


def test_binary_and_utf8_bodies_are_unchanged(scanner: DlpScanner) -> None:
    secret = fake("github_pat")
    png = b"\xff\xfe\x00\x00" + secret.encode("utf-32-le")
    assert not scanner.scan_request(host="x", body=png, content_type="image/png").findings
    plain = scanner.scan_request(host="x", body=f"t {secret}".encode(), content_type="text/plain")
    assert plain.redacted_body == b"t [REDACTED:github_pat]"
