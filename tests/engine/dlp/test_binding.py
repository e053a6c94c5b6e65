"""Credential-destination binding: a key sent to its issuer where it expects it is use; anywhere else, a finding."""

from __future__ import annotations

import base64

from dlp_fakes import fake

from palaryn_proxy.dlp import DlpConfig, DlpScanner


def _types(
    scanner: DlpScanner, host: str, headers: list[tuple[str, str]], path: str = "/", body: bytes = b""
) -> list[tuple[str, str]]:
    r = scanner.scan_request(host=host, method="POST", path_and_query=path, headers=headers, body=body or None,
                             content_type="application/json")  # fmt: skip
    return [(f.type, f.location) for f in r.findings]


def test_provider_key_in_its_header_to_its_issuer_is_not_a_finding(scanner: DlpScanner) -> None:
    openai, anthropic = fake("openai_project_key"), fake("anthropic_api_key")
    assert _types(scanner, "api.openai.com", [("Authorization", f"Bearer {openai}")]) == []
    assert _types(scanner, "api.anthropic.com", [("x-api-key", anthropic)]) == []
    assert _types(scanner, "API.Anthropic.com.", [("X-Api-Key", anthropic)]) == []  # case and trailing dot
    gh = fake("github_pat")
    assert _types(scanner, "api.github.com", [("Authorization", f"token {gh}")]) == []
    basic = base64.b64encode(f"x-access-token:{gh}".encode()).decode()  # git over HTTPS
    assert _types(scanner, "github.com", [("Authorization", f"Basic {basic}")]) == []


def test_same_key_elsewhere_is_exfiltration(scanner: DlpScanner) -> None:
    key = fake("openai_project_key")
    assert _types(scanner, "api.evil.example", [("Authorization", f"Bearer {key}")]) == [
        ("openai_project_key", "request.header:Authorization")
    ]
    # the right host but the wrong header, the query string, or the body
    assert _types(scanner, "api.openai.com", [("X-Forward", key)]) == [
        ("openai_project_key", "request.header:X-Forward")
    ]
    assert _types(scanner, "api.openai.com", [], path=f"/v1/models?api_key={key}") == [
        ("openai_project_key", "request.query:api_key")
    ]
    body = f'{{"messages": [{{"role": "user", "content": "{key}"}}]}}'.encode()
    assert _types(scanner, "api.openai.com", [], body=body) == [
        ("openai_project_key", "request.body:$.messages[0].content")
    ]
    gh = fake("github_pat")
    basic = base64.b64encode(f"x-access-token:{gh}".encode()).decode()
    assert _types(scanner, "gitlab.com", [("Authorization", f"Basic {basic}")]) == [
        ("github_pat", "request.header:Authorization")
    ]


def test_query_and_path_bindings(scanner: DlpScanner) -> None:
    gkey = fake("google_api_key")
    assert _types(scanner, "generativelanguage.googleapis.com", [], path=f"/v1beta/models?key={gkey}") == []
    assert _types(scanner, "maps.example.com", [], path=f"/api?key={gkey}") == [
        ("google_api_key", "request.query:key")
    ]
    tg = fake("telegram_bot_token")
    assert _types(scanner, "api.telegram.org", [], path=f"/bot{tg}/sendMessage") == []
    assert _types(scanner, "tg-proxy.example", [], path=f"/bot{tg}/sendMessage") == [
        ("telegram_bot_token", "request.path")
    ]


def test_jwt_in_credential_headers_is_the_callers_session(scanner: DlpScanner) -> None:
    jwt = fake("jwt")
    assert (
        _types(scanner, "any.example", [("Authorization", f"Bearer {jwt}"), ("Cookie", f"session={jwt}")])
        == []
    )
    body = f'{{"note": "{jwt}"}}'.encode()
    assert _types(scanner, "any.example", [], body=body) == [("jwt", "request.body:$.note")]


def test_config_extends_the_table() -> None:
    key = fake("openai_project_key")
    cfg = {
        "bindings": [
            {"types": ["openai_project_key"], "hosts": ["*.gateway.internal"], "headers": ["authorization"]}
        ]
    }
    scanner = DlpScanner(DlpConfig.from_mapping(cfg))
    assert _types(scanner, "llm.gateway.internal", [("Authorization", f"Bearer {key}")]) == []
    assert _types(scanner, "api.openai.com", [("Authorization", f"Bearer {key}")]) == []  # built-ins kept
    assert _types(scanner, "gateway.example", [("Authorization", f"Bearer {key}")]) != []


def test_a_response_from_the_issuer_may_carry_its_credentials(scanner: DlpScanner) -> None:
    token = fake("github_app_token")
    body = f'{{"token": "{token}", "expires_at": "2024-06-01T00:00:00Z"}}'.encode()
    issuer = scanner.scan_response(host="api.github.com", body=body, content_type="application/json")
    assert issuer.findings == [] and issuer.action == "allow"
    other = scanner.scan_response(host="pastebin.example", body=body, content_type="application/json")
    assert [(f.type, f.action) for f in other.findings] == [("github_app_token", "redact")]
    assert token.encode() not in (other.redacted_body or b"")
