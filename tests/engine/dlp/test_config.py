"""The dlp / injection config: defaults, per-type/group/direction actions, and errors naming the key."""

from __future__ import annotations

import dataclasses

import pytest
from dlp_fakes import fake

from palaryn_proxy.dlp import Action, DlpConfig, DlpScanner, InjectionAction, OnTimeout, Oversize
from palaryn_proxy.errors import ConfigError


def test_defaults_without_any_config() -> None:
    cfg = DlpConfig.from_mapping({})
    assert cfg.action_for("github_pat", "request") == Action.REDACT
    assert cfg.action_for("github_pat", "response") == Action.REDACT
    assert cfg.action_for("email", "request") == Action.LOG
    assert cfg.action_for("ip_address", "request") == Action.OFF
    assert cfg.injection.action == InjectionAction.FLAG
    assert cfg.oversize == Oversize.SCAN_PREFIX
    assert cfg.on_timeout == OnTimeout.BLOCK and cfg.scan_timeout_seconds == 15.0
    assert DlpConfig.from_mapping({"on_timeout": "pass-and-flag"}).on_timeout == OnTimeout.PASS
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_scan_bytes = 1  # type: ignore[misc]
    assert "hash_key" not in repr(cfg)


def test_action_precedence() -> None:
    cfg = DlpConfig.from_mapping(
        {
            "default_action": "block",
            "actions": {
                "pii": "redact",
                "secrets": {"response": "log"},
                "email": {"request": "log"},
                "jwt": "off",
                "github_pat": {"response": "block"},
            },
        }
    )
    assert cfg.action_for("email", "request") == Action.LOG  # type + direction
    assert cfg.action_for("email", "response") == Action.REDACT  # group
    assert cfg.action_for("phone", "request") == Action.REDACT
    assert cfg.action_for("github_pat", "response") == Action.BLOCK
    assert (
        cfg.action_for("github_pat", "request") == Action.BLOCK
    )  # default_action: secrets has no request entry
    assert cfg.action_for("openai_project_key", "response") == Action.LOG
    assert cfg.action_for("jwt", "request") == Action.OFF


def test_actions_change_what_a_scan_does() -> None:
    key = fake("openai_project_key")
    body = f'{{"messages": [{{"role": "user", "content": "{key} and bob@corp.io"}}]}}'.encode()
    block = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": {"request": "block"}}}))
    r = block.scan_request(host="x.example", headers=[("Content-Type", "application/json")], body=body)
    assert r.action == "block" and r.redacted_body is None
    assert r.block_reason is not None and r.block_reason.rule == "openai_project_key"
    (reason,) = [x for x in r.reasons() if x.stage == "dlp"]
    assert reason.rule == "openai_project_key" and "request.body:$.messages[0].content" in reason.message
    assert key not in reason.message
    off = DlpScanner(DlpConfig.from_mapping({"actions": {"openai_project_key": "off", "email": "redact"}}))
    r = off.scan_request(host="x.example", headers=[("Content-Type", "application/json")], body=body)
    assert [f.type for f in r.findings] == ["email"] and b"[REDACTED:email]" in (r.redacted_body or b"")


@pytest.mark.parametrize(
    ("dlp", "injection", "key"),
    [
        ({"nope": 1}, {}, "dlp.nope"),
        ({"default_action": "delete"}, {}, "dlp.default_action"),
        ({"default_action": "off"}, {}, "dlp.default_action"),
        ({"actions": {"emial": "log"}}, {}, "dlp.actions.emial"),
        ({"actions": {"email": {"both": "log"}}}, {}, "dlp.actions.email.both"),
        ({"actions": {"email": {"request": "drop"}}}, {}, "dlp.actions.email.request"),
        ({"actions": ["email"]}, {}, "dlp.actions"),
        ({"max_scan_bytes": "1MB"}, {}, "dlp.max_scan_bytes"),
        ({"oversize": "truncate"}, {}, "dlp.oversize"),
        ({"on_timeout": "wait"}, {}, "dlp.on_timeout"),
        ({"scan_timeout_seconds": 0}, {}, "dlp.scan_timeout_seconds"),
        ({"stream_overlap": 8}, {}, "dlp.stream_overlap"),
        ({"decode": {"base64": "yes"}}, {}, "dlp.decode.base64"),
        ({"bindings": [{"types": ["openai_key"], "hosts": ["a.example"]}]}, {}, "dlp.bindings[0].types"),
        ({"bindings": [{"types": ["jwt"], "hosts": ["a.*.example"]}]}, {}, "dlp.bindings[0].hosts"),
        (
            {"bindings": [{"types": ["jwt"], "hosts": ["a.example"], "header": ["x"]}]},
            {},
            "dlp.bindings[0].header",
        ),
        ({"hash_key": "short"}, {}, "dlp.hash_key"),
        ({}, {"action": "redact"}, "injection.action"),
        ({}, {"threshold": 2}, "injection.threshold"),
        ({}, {"treshold": 0.4}, "injection.treshold"),
    ],
)
def test_errors_name_the_key_and_the_fix(
    dlp: dict[str, object], injection: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        DlpConfig.from_mapping(dlp, injection)
    message = str(err.value)
    assert message.startswith(key + ":")
    assert any(w in message for w in ("use one of", "expected", "known keys", "use an exact host"))


def test_hash_key_makes_hashes_stable_and_keyed() -> None:
    key = fake("github_pat")
    a = DlpScanner(DlpConfig.from_mapping({"hash_key": "k" * 32})).scan_text(f"t {key}")
    b = DlpScanner(DlpConfig.from_mapping({"hash_key": "k" * 32})).scan_text(f"t {key}")
    c = DlpScanner(DlpConfig.from_mapping({"hash_key": "j" * 32})).scan_text(f"t {key}")
    assert a[0].hash == b[0].hash != c[0].hash
    assert len(a[0].hash) == 16 and key not in repr(a[0]) and a[0].preview == "ghp_"
