"""Config loading: precedence, validation errors that name the key, line and fix."""

from __future__ import annotations

import pytest

from palaryn_proxy.config import KEYS, load_config
from palaryn_proxy.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "palaryn.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.listen == "127.0.0.1:8080" and config.mode == ["regular"]
    assert config.metrics_listen == "127.0.0.1:9464" and config.source is None


def test_precedence_file_env_flag(tmp_path):
    path = write(tmp_path, "listen: 127.0.0.1:7000\naudit_log: /tmp/a.jsonl\nmode: transparent\n")
    config = load_config(
        path,
        {"listen": "127.0.0.1:7002"},
        environ={"PALARYN_LISTEN": "127.0.0.1:7001", "PALARYN_AUDIT_LOG": "/tmp/env.jsonl"},
    )
    assert config.listen == "127.0.0.1:7002"
    assert config.audit_log == "/tmp/env.jsonl"
    assert config.mode == ["transparent"]


def test_unknown_key_names_line_and_suggestion(tmp_path):
    path = write(tmp_path, "listen: 127.0.0.1:7000\nblock_domain: [a]\n")
    with pytest.raises(
        ConfigError, match=r"palaryn.yaml:2: unknown key `block_domain` \(did you mean 'block_domains'"
    ):
        load_config(path, environ={})


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("listen: nowhere\n", "`listen`: expected HOST:PORT"),
        ("audit_max_bytes: lots\n", "`audit_max_bytes` must be an integer"),
        ("upstream_verify: 1\n", "`upstream_verify` must be true or false"),
        ("fail_open: {nonsense: true}\n", "`fail_open.nonsense` is not a stage"),
        ("identity: {require_auth: true}\n", "lists no actor"),
        ("identity: {actors: {a: {tokens: [plain]}}}\n", "sha256:<64 hex>"),
        ("identity: {client_map: {'not-an-ip': x}}\n", "IP addresses or CIDRs"),
        ("resolve_overrides: {a.test: nowhere}\n", "resolve_overrides.a.test"),
        ("- a list\n", "top level must be a mapping"),
        ("listen: [unclosed\n", "not valid YAML"),
    ],
)
def test_validation_errors(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(write(tmp_path, text), environ={})
    assert fragment in str(err.value)


def test_every_key_is_documented_in_readme():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [k.name for k in KEYS if f"`{k.name}`" not in readme]
    assert not missing, f"keys missing from README's config reference: {missing}"


def test_example_config_is_valid():
    from pathlib import Path

    load_config(Path(__file__).parents[2] / "palaryn.example.yaml", environ={})
