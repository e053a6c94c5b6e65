"""`policy replay` on an audit log recorded by a real proxy: a stricter pack's diff, grouped by rule, with
request ids; an MCP call whose new decision hangs on its (unrecorded) arguments is undecidable."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import yaml

from e2e.harness import Proxy, start_proxy

LENIENT = {
    "name": "lenient",
    "default_effect": "ALLOW",
    "rules": [{"name": "no-delete", "effect": "DENY", "priority": 1, "conditions": {"methods": ["DELETE"]}}],
}
STRICT = {
    "name": "strict",
    "default_effect": "ALLOW",
    "rules": [
        {
            "name": "no-shell",
            "effect": "DENY",
            "priority": 1,
            "conditions": {"kinds": ["mcp"], "tools": ["run_shell"]},
        },
        {
            "name": "no-rm-search",
            "effect": "DENY",
            "priority": 2,
            "conditions": {
                "kinds": ["mcp"],
                "tools": ["search"],
                "arguments": [{"pointer": "/q", "glob": "rm*"}],
            },
        },
        {
            "name": "writes-need-approval",
            "effect": "REQUIRE_APPROVAL",
            "priority": 3,
            "conditions": {"kinds": ["http"], "capabilities": ["write"]},
        },
    ],
}


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


def tool_call(name: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {"q": "x"}},
    }


def test_replay_recorded_log_with_stricter_pack(tmp_path: Path, upstream, shared_certs):
    lenient, strict = tmp_path / "lenient.yaml", tmp_path / "strict.yaml"
    lenient.write_text(yaml.safe_dump(LENIENT))
    strict.write_text(yaml.safe_dump(STRICT))
    proxy = start_proxy(tmp_path / "proxy", upstream, shared_certs, {"policy_packs": [str(lenient)]})
    try:
        with client(proxy) as c:
            ids: dict[str, str] = {}
            for label, send in [
                ("get1", lambda: c.get("https://upstream.test/echo")),
                ("get2", lambda: c.get("https://upstream.test/echo?page=2")),
                ("post", lambda: c.post("https://upstream.test/echo", json={"a": 1})),
                ("delete", lambda: c.delete("https://upstream.test/echo")),
                ("shell", lambda: c.post("https://upstream.test/echo", json=tool_call("run_shell"))),
                ("search", lambda: c.post("https://upstream.test/echo", json=tool_call("search"))),
            ]:
                resp = send()
                assert resp.status_code == (403 if label == "delete" else 200), (label, resp.text)
                ids[label] = resp.headers["x-palaryn-request-id"]
        records = proxy.wait_records(6)
        assert len(records) == 6
    finally:
        proxy.stop()
    out = proxy.cli("policy", "replay", "--policy", str(strict), str(proxy.audit_path), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["flows"], report["unchanged"], report["changed"], report["undecidable"]) == (6, 2, 3, 1)
    changes = {(c["from"], c["to"], c["rule"]): c for c in report["changes"]}
    assert set(changes) == {
        ("allow", "approval", "writes-need-approval"),
        ("allow", "deny", "no-shell"),
        ("deny", "allow", "default_effect"),
    }
    assert changes[("allow", "approval", "writes-need-approval")]["examples"] == [ids["post"]]
    assert changes[("allow", "deny", "no-shell")]["examples"] == [ids["shell"]]
    assert changes[("deny", "allow", "default_effect")]["examples"] == [ids["delete"]]
    (undecidable,) = report["undecidable_rules"]
    assert undecidable["rule"] == "no-rm-search" and undecidable["examples"] == [ids["search"]]

    # The console's event store holds the same flows: the same diff.
    events = f"sqlite:///{proxy.workdir / 'events.db'}"
    stored = proxy.cli("policy", "replay", "--policy", str(strict), events, "--since", "1d", "--json")
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout) == {**report, "changes": json.loads(stored.stdout)["changes"]}
    assert sorted(map(str, json.loads(stored.stdout)["changes"])) == sorted(map(str, report["changes"]))

    # The same packs that recorded the log change nothing; the text report names rules and examples.
    same = proxy.cli("policy", "replay", "--policy", str(lenient), str(proxy.audit_path), "--json")
    assert json.loads(same.stdout)["changed"] == 0
    text = proxy.cli("policy", "replay", "--policy", str(strict), str(proxy.audit_path), "--since", "7d")
    assert text.returncode == 0, text.stderr
    assert "6 flows re-decided: 2 unchanged, 3 changed, 1 undecidable" in text.stdout
    assert "allow -> deny" in text.stdout and ids["shell"] in text.stdout
    # Nothing recorded in the last second of a future window.
    none = proxy.cli(
        "policy", "replay", "--policy", str(strict), str(proxy.audit_path), "--since", "0s", "--json"
    )
    assert json.loads(none.stdout)["flows"] == 0
