"""Redaction replaces exactly the right original bytes: JSON stays valid, everything else is byte-identical."""

from __future__ import annotations

import base64
import json

from dlp_fakes import fake

from palaryn_proxy.dlp import DlpScanner, ScanResult

JSON = [("Content-Type", "application/json")]


def _req(
    scanner: DlpScanner, body: bytes, headers: list[tuple[str, str]] | None = None, path: str = "/"
) -> ScanResult:
    return scanner.scan_request(host="tools.example.net", method="POST", path_and_query=path,
                                headers=headers if headers is not None else JSON, body=body)  # fmt: skip


def test_json_redaction_keeps_json_valid_and_the_rest_byte_identical(scanner: DlpScanner) -> None:
    tok, key = fake("github_pat"), fake("openai_project_key")
    doc = {"model": "gpt-4o", "messages": [
        {"role": "user", "content": f"my token {tok} fails"},
        {"role": "user", "content": f"naïve café ✓ «{key}» done"},
    ]}  # fmt: skip
    for ensure_ascii in (True, False):
        body = json.dumps(doc, ensure_ascii=ensure_ascii).encode()
        r = _req(scanner, body)
        assert r.action == "redact"
        expected = body.replace(tok.encode(), b"[REDACTED:github_pat]").replace(
            key.encode(), b"[REDACTED:openai_project_key]"
        )
        assert r.redacted_body == expected
        out = json.loads(r.redacted_body)
        assert out["messages"][1]["content"] == "naïve café ✓ «[REDACTED:openai_project_key]» done"
        assert {(f.type, f.location) for f in r.findings} == {
            ("github_pat", "request.body:$.messages[0].content"),
            ("openai_project_key", "request.body:$.messages[1].content"),
        }
        for f in r.findings:  # offsets are byte offsets of the original body
            assert body[f.start : f.end] in (tok.encode(), key.encode())


def test_escaped_secret_is_redacted_whole_escape_sequences_included(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 3)
    escaped = "".join(f"\\u{ord(c):04x}" for c in tok[:6]) + tok[6:]
    body = ('{"input": "see \\n' + escaped + '\\t!"}').encode()
    r = _req(scanner, body)
    assert r.redacted_body == b'{"input": "see \\n[REDACTED:github_pat]\\t!"}'
    assert json.loads(r.redacted_body)["input"] == "see \n[REDACTED:github_pat]\t!"


def test_secret_in_tool_call_arguments_json_inside_json(scanner: DlpScanner) -> None:
    key = fake("anthropic_api_key", 2)
    args = json.dumps({"path": ".env", "content": f"A=1\nANTHROPIC_API_KEY={key}\n"})
    body = json.dumps({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "write_file", "arguments": args}}]}]}).encode()  # fmt: skip
    r = _req(scanner, body)
    outer = json.loads(r.redacted_body)
    inner = json.loads(outer["messages"][0]["tool_calls"][0]["function"]["arguments"])
    assert inner["content"] == "A=1\nANTHROPIC_API_KEY=[REDACTED:anthropic_api_key]\n"
    (f,) = r.findings
    assert f.location == "request.body:$.messages[0].tool_calls[0].function.arguments:$.content"


def test_obfuscated_secrets_are_redacted_over_their_original_span(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 4)
    zero_width = tok[:5] + "\u200b" + tok[5:20] + "\u200d" + tok[20:]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in tok[:4]) + tok[4:]  # ｇｈｐ＿
    for variant in (zero_width, full_width):
        body = f"before {variant} after".encode()
        r = _req(scanner, body, [("Content-Type", "text/plain")])
        assert r.redacted_body == b"before [REDACTED:github_pat] after"
        assert r.findings[0].hash == _req(scanner, f"x {tok}".encode(), []).findings[0].hash


def test_base64_blob_is_replaced_whole(scanner: DlpScanner) -> None:
    key = fake("openai_project_key", 5)
    blob = base64.b64encode(f"OPENAI_API_KEY={key}".encode()).decode()
    body = f"apiVersion: v1\ndata:\n  env: {blob}\nkind: Secret\n".encode()
    r = _req(scanner, body, [("Content-Type", "text/yaml")])
    assert r.redacted_body == b"apiVersion: v1\ndata:\n  env: [REDACTED:openai_project_key]\nkind: Secret\n"
    assert body[r.findings[0].start : r.findings[0].end] == blob.encode()


def test_form_query_header_and_multipart_redaction(scanner: DlpScanner) -> None:
    key = fake("stripe_secret_key", 6)
    form = f"a=1&note=key+{key}&b=%C3%A9".encode()
    r = _req(scanner, form, [("Content-Type", "application/x-www-form-urlencoded")])
    assert r.redacted_body == b"a=1&note=key+%5BREDACTED%3Astripe_secret_key%5D&b=%C3%A9"
    assert r.findings[0].location == "request.body:form.note"

    r = _req(scanner, b"", [("X-Debug", f"k={key}")], path=f"/v1/x?q=1&k={key}&z=2")
    assert r.redacted_path_and_query == "/v1/x?q=1&k=%5BREDACTED%3Astripe_secret_key%5D&z=2"
    assert r.redacted_headers == [("X-Debug", "k=[REDACTED:stripe_secret_key]")]
    assert {f.location for f in r.findings} == {"request.query:k", "request.header:X-Debug"}

    boundary = "----b0undary"
    parts = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nsecret {key} here\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="img"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n\x89PNG {key}\r\n--{boundary}--\r\n"
    ).encode()
    r = _req(scanner, parts, [("Content-Type", f"multipart/form-data; boundary={boundary}")])
    assert r.redacted_body == parts.replace(f"secret {key}".encode(), b"secret [REDACTED:stripe_secret_key]")
    assert r.findings[0].location == "request.body:multipart.file"


def test_log_action_does_not_change_the_body(scanner: DlpScanner) -> None:
    body = b'{"messages": [{"role": "user", "content": "mail maria.lopez@northwind-traders.co.uk"}]}'
    r = _req(scanner, body)
    assert [(f.type, f.action) for f in r.findings] == [("email", "log")]
    assert r.action == "allow" and r.redacted_body is None


def test_non_json_body_that_looks_like_json_is_scanned_as_text(scanner: DlpScanner) -> None:
    tok = fake("github_pat", 7)
    body = f'{{"a": "unterminated, then {tok} outside a string'.encode()
    r = _req(scanner, body)
    assert r.redacted_body == body.replace(tok.encode(), b"[REDACTED:github_pat]")
    assert r.findings[0].location == "request.body"


def test_card_number_sent_as_a_json_number_becomes_a_json_string() -> None:
    from palaryn_proxy.dlp import DlpConfig

    scanner = DlpScanner(DlpConfig.from_mapping({"actions": {"credit_card": "redact"}}))
    body = b'{"order": {"card": 4666176031372159, "amount": 12.5, "ids": [4666176031372159], "ts": 1717430400000}}'
    r = _req(scanner, body)
    assert json.loads(r.redacted_body or b"") == {
        "order": {
            "card": "[REDACTED:credit_card]",
            "amount": 12.5,
            "ids": ["[REDACTED:credit_card]"],
            "ts": 1717430400000,
        }
    }
    assert [f.location for f in r.findings] == ["request.body:$.order.card", "request.body:$.order.ids"]
