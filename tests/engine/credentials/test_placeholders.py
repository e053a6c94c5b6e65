"""Placeholders: stable per credential and actor, shaped like provider keys, found anywhere by their marker."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from palaryn_proxy.credentials import parse_credentials
from palaryn_proxy.credentials.placeholders import KEY_FILE, Placeholders, load_key

SPECS = parse_credentials(
    [
        {"name": "openai", "hosts": ["api.openai.com"], "header": "authorization", "value_from": "env:A"},
        {"name": "anthropic", "hosts": ["api.anthropic.com"], "header": "x-api-key", "value_from": "env:B"},
        {
            "name": "gemini",
            "hosts": ["generativelanguage.googleapis.com"],
            "query": "key",
            "value_from": "env:C",
        },
        {
            "name": "aws",
            "hosts": ["bedrock-runtime.us-east-1.amazonaws.com"],
            "aws_sigv4": {},
            "value_from": "env:D",
        },
        {"name": "tool", "hosts": ["tool.test"], "header": "x-key", "value_from": "env:E"},
        {
            "name": "fixed",
            "hosts": ["f.test"],
            "header": "x-key",
            "value_from": "env:F",
            "placeholder": "my-fixed-ph",
        },
    ],
    False,
).credentials


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path):
    key = load_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(tmp_path) == key and len(key) == 32


def test_shapes_and_stability(tmp_path: Path):
    ph = Placeholders(load_key(tmp_path), SPECS)
    again = Placeholders(load_key(tmp_path), SPECS)
    openai, anthropic, gemini, aws, tool, fixed = SPECS
    assert ph.key(openai, "alice").startswith("sk-proj-palaryn-") and len(ph.key(openai, "alice")) == 80
    assert ph.key(anthropic, "alice").startswith("sk-ant-api03-palaryn-")
    assert ph.key(gemini, "alice").startswith("AIzapalaryn") and len(ph.key(gemini, "alice")) == 39
    assert ph.key(tool, "alice").startswith("palaryn-")
    assert ph.key(fixed, "alice") == ph.key(fixed, "bob") == "my-fixed-ph"
    pair = ph.aws(aws, "alice")
    assert (
        pair.access_key_id.startswith("AKIA")
        and len(pair.access_key_id) == 20
        and pair.access_key_id.isupper()
    )
    assert len(pair.secret_access_key) == 40
    assert ph.env(aws, "alice") == {
        "AWS_ACCESS_KEY_ID": pair.access_key_id,
        "AWS_SECRET_ACCESS_KEY": pair.secret_access_key,
    }
    for spec in SPECS:
        assert ph.key(spec, "alice") == again.key(spec, "alice")
        if spec.placeholder is None:
            assert ph.key(spec, "alice") != ph.key(spec, "bob")
    other = Placeholders(os.urandom(32), SPECS)
    assert other.key(openai, "alice") != ph.key(openai, "alice")


def test_owner_and_find_recognise_any_actor(tmp_path: Path):
    ph = Placeholders(load_key(tmp_path), SPECS)
    for spec in SPECS:
        for actor in ("alice", "bob"):
            token = ph.key(spec, actor)
            assert ph.owner(token.partition(":")[0]) == spec.name
            assert ph.find(f"some text {token} more") == {spec.name}
    assert ph.owner("sk-proj-realkey123") is None
    assert ph.find("palaryn-proxy is a proxy by palaryn") == set()
