"""The `credentials` section: valid entries parse into typed specs, every mistake names its key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaryn_proxy.config import load_config
from palaryn_proxy.credentials import parse_credentials
from palaryn_proxy.errors import ConfigError


def one(**entry):
    base = {"name": "openai", "hosts": ["api.openai.com"], "value_from": "env:OPENAI_REAL"}
    return parse_credentials([{**base, **entry}], False).credentials[0]


def test_header_defaults_bearer_for_authorization_and_plain_for_others():
    assert one(header="authorization").headers == (("authorization", "Bearer {value}"),)
    assert one(header=["x-api-key", "Authorization"]).headers == (
        ("x-api-key", "{value}"),
        ("authorization", "Bearer {value}"),
    )
    assert one(header="x-token", format="token {value}").headers == (("x-token", "token {value}"),)


def test_sources_and_placements(tmp_path: Path):
    spec = parse_credentials(
        [
            {
                "name": "aws",
                "hosts": ["bedrock-runtime.us-east-1.amazonaws.com"],
                "aws_sigv4": {"service": "bedrock", "region": "us-east-1"},
                "value_from": {"command": ["vault", "read"], "cache_seconds": 60},
            }
        ],
        ["*.amazonaws.com"],
    )
    aws = spec.credentials[0]
    assert aws.aws == ("bedrock", "us-east-1") and aws.kind == "aws_sigv4"
    assert aws.env == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    assert aws.source.command == ("vault", "read") and aws.source.cache_seconds == 60
    assert spec.required_at("bedrock-runtime.us-east-1.amazonaws.com") and not spec.required_at("x.test")
    rel = parse_credentials(
        [{"name": "gh", "hosts": ["github.com"], "basic": {"username": "x"}, "value_from": "file:tok"}],
        True,
        base_dir=tmp_path,
    ).credentials[0]
    assert rel.source.target == str(tmp_path / "tok") and rel.basic_username == "x"


def test_host_binding_uses_the_scheme_default_port():
    cfg = parse_credentials(
        [
            {
                "name": "a",
                "hosts": ["api.openai.com", "*.local.test:8443"],
                "header": "x",
                "value_from": "env:A",
            },
        ],
        False,
    )
    assert [c.name for c in cfg.bound("api.openai.com", 443, "https")] == ["a"]
    assert cfg.bound("api.openai.com", 8443, "https") == []
    assert cfg.bound("api.openai.com", 80, "http") and not cfg.bound("api.openai.com", 443, "http")
    assert cfg.bound("x.local.test", 8443, "https") and not cfg.bound("x.local.test", 443, "https")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"hosts": ["a.test"], "header": "x", "value_from": "env:A"}, "credentials[0].name"),
        ({"name": "a", "header": "x", "value_from": "env:A"}, "credentials.a.hosts"),
        ({"name": "a", "hosts": ["a.test"], "value_from": "env:A"}, "set one of header"),
        (
            {
                "name": "a",
                "hosts": ["a.test"],
                "header": "x",
                "basic": {"username": "u"},
                "value_from": "env:A",
            },
            "header and query may go together",
        ),
        ({"name": "a", "hosts": ["a.test"], "header": "x", "value_from": "vault:A"}, "value_from"),
        (
            {"name": "a", "hosts": ["a.test"], "header": "x", "format": "Bearer", "value_from": "env:A"},
            "{value}",
        ),
        (
            {"name": "a", "hosts": ["a.test"], "header": "x", "value_from": "env:A", "colour": 1},
            "credentials[0].colour",
        ),
        (
            {"name": "a", "hosts": ["a.test"], "header": "x", "value_from": "env:A", "cache_seconds": 5},
            "command value_from only",
        ),
        ({"name": "a", "hosts": ["a.test:99999"], "header": "x", "value_from": "env:A"}, "HOST:PORT"),
    ],
)
def test_mistakes_name_the_key(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_credentials([entry], False)
    assert message in str(err.value)


def test_duplicate_names_and_bad_required():
    entry = {"name": "a", "hosts": ["a.test"], "header": "x", "value_from": "env:A"}
    with pytest.raises(ConfigError, match="used twice"):
        parse_credentials([entry, entry], False)
    with pytest.raises(ConfigError, match="credentials_required"):
        parse_credentials([entry], "yes")


def test_load_config_parses_the_section_once(tmp_path: Path):
    path = tmp_path / "palaryn.yaml"
    path.write_text(
        "credentials:\n"
        "  - {name: openai, hosts: [api.openai.com], header: authorization, value_from: 'file:key.txt',\n"
        "     env: [OPENAI_API_KEY]}\n"
        "credentials_required: [api.openai.com]\n"
    )
    config = load_config(path, environ={})
    section = config.sections.credentials
    assert section.credentials[0].source.target == str(tmp_path / "key.txt")
    assert section.required == ("api.openai.com",)
    path.write_text("credentials:\n  - {name: x}\n")
    with pytest.raises(ConfigError, match="credentials.x.hosts"):
        load_config(path, environ={})
