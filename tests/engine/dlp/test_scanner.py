"""DlpScanner behaviour around the detectors: size limits, headers, binary bodies, audit entries, hashing."""

from __future__ import annotations

import json

from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner


def _big_body(secret: str, size: int) -> bytes:
    return (f"head {secret} " + "filler text " * (size // 12)).encode()


def test_oversize_scan_prefix_redacts_the_prefix_and_flags() -> None:
    tok = fake("github_pat")
    scanner = DlpScanner(DlpConfig.from_mapping({"max_scan_bytes": 4096}))
    body = _big_body(tok, 10_000) + f" late {fake('github_pat', 1)}".encode()
    r = scanner.scan_request(host="x.example", body=body, content_type="text/plain")
    assert r.oversize and r.action == "redact"
    assert r.redacted_body == body.replace(
        tok.encode(), b"[REDACTED:github_pat]"
    )  # the tail passes unscanned
    assert any(x.rule == "max_scan_bytes" for x in r.reasons())


def test_oversize_block_and_pass() -> None:
    body = _big_body(fake("github_pat"), 10_000)
    blocked = DlpScanner(DlpConfig.from_mapping({"max_scan_bytes": 4096, "oversize": "block"}))
    r = blocked.scan_request(host="x.example", body=body, content_type="text/plain")
    assert r.oversize and r.action == "block" and r.block_reason is not None
    assert r.block_reason.rule == "max_scan_bytes"
    passed = DlpScanner(DlpConfig.from_mapping({"max_scan_bytes": 4096, "oversize": "pass"}))
    r = passed.scan_request(host="x.example", body=body, content_type="text/plain")
    assert r.oversize and r.action == "allow" and r.findings == []


def test_response_headers_and_body_are_scanned(scanner: DlpScanner) -> None:
    key = fake("stripe_secret_key")
    r = scanner.scan_response(
        host="paste.example",
        headers=[("Content-Type", "text/plain"), ("X-Debug-Key", key)],
        body=f"k={key}".encode(),
    )
    assert {f.location for f in r.findings} == {"response.header:X-Debug-Key", "response.body"}
    assert r.redacted_headers == [
        ("Content-Type", "text/plain"),
        ("X-Debug-Key", "[REDACTED:stripe_secret_key]"),
    ]
    assert r.redacted_body == b"k=[REDACTED:stripe_secret_key]"


def test_binary_bodies_are_skipped(scanner: DlpScanner) -> None:
    tok = fake("github_pat").encode()
    assert (
        scanner.scan_request(host="x.example", body=b"\x89PNG" + tok, content_type="image/png").findings == []
    )
    assert scanner.scan_request(host="x.example", body=b"\x00\x01" + tok, content_type=None).findings == []
    assert scanner.scan_request(host="x.example", body=b"txt " + tok, content_type=None).findings != []


def test_disabled_scanner_finds_nothing() -> None:
    off = DlpScanner(DlpConfig.from_mapping({"enabled": False}))
    assert off.scan_request(host="x.example", body=fake("github_pat").encode()).findings == []


def test_audit_entries_carry_exactly_the_contract_fields(scanner: DlpScanner) -> None:
    key = fake("openai_project_key")
    body = json.dumps({"messages": [{"role": "user", "content": f"{key} / call +44 20 7946 0958"}]}).encode()
    r = scanner.scan_request(host="x.example", body=body, content_type="application/json")
    assert r.audit() == [
        {"type": "openai_project_key", "direction": "request", "location": "request.body:$.messages[0].content",
         "action": "redact"},
        {"type": "phone", "direction": "request", "location": "request.body:$.messages[0].content", "action": "log"},
    ]  # fmt: skip
    text = repr(r.findings) + repr(r.audit()) + "".join(x.message for x in r.reasons())
    assert key not in text and key[8:20] not in text and "7946" not in text


def test_scan_text(scanner: DlpScanner) -> None:
    tok = fake("github_pat")
    (f,) = scanner.scan_text(f"é {tok}", direction="response", location="response.websocket")
    assert (f.type, f.location, f.start) == ("github_pat", "response.websocket", 3)


def test_an_llm_answers_own_keys_are_not_scanned_but_its_values_and_nested_documents_are(
    scanner: DlpScanner,
) -> None:
    key = fake("github_pat")
    arguments = json.dumps({key: "as a key inside tool arguments"})
    answer = {
        key: "a secret as a top-level key: the provider's schema, skipped",
        "choices": [{"message": {"content": f"here: {fake('aws_access_key_id')}", "tool_args": arguments}}],
        "password": "Tr0ub4dor&3!",
    }
    body = json.dumps(answer).encode()

    def found(**kw: bool) -> list[str]:
        result = scanner.scan_response(
            host="api.openai.com", body=body, content_type="application/json", **kw
        )
        return sorted(f.type for f in result.findings)

    assert found(injection=False, json_keys=False) == ["aws_access_key_id", "generic_password", "github_pat"]
    assert found(injection=False).count("github_pat") == 2  # by default the top-level key is scanned too


def test_an_llm_answers_identifier_fields_are_not_scanned_but_the_same_fields_elsewhere_are(
    scanner: DlpScanner,
) -> None:
    token = fake("github_pat")
    answer: dict[str, object] = {
        "id": f"chatcmpl {token}",
        "model": f"gpt-4o-mini {token}",
        "choices": [
            {
                "finish_reason": token,
                "message": {
                    "role": "assistant",
                    "content": "nothing here",
                    # a document the model wrote: every field of it is its text
                    "tool_calls": [{"id": "call_1", "function": {"arguments": json.dumps({"id": token})}}],
                },
            }
        ],
    }
    body = json.dumps(answer).encode()

    def found(**kw: bool) -> list[str]:
        result = scanner.scan_response(
            host="api.openai.com", body=body, content_type="application/json", **kw
        )
        return sorted(f.location for f in result.findings if f.type == "github_pat")

    assert found(injection=False, json_keys=False) == [
        "response.body:$.choices[0].message.tool_calls[0].function.arguments:$.id"
    ]
    assert len(found(injection=False)) == 4  # any other JSON answer: the same fields are scanned
