"""Transparent sidecar: an agent in its own network namespace, its 80/443 REDIRECTed to the proxy by iptables,
with no proxy variables — only trusting the CA — is intercepted, identified by address, priced and audited."""

from __future__ import annotations

import json
import ssl
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from e2e.harness import base_env
from e2e.netns import AgentNamespace, leftovers, missing_requirements
from e2e.upstream import free_port
from palaryn_proxy.tls.agentenv import CA_VARIABLES

pytestmark = pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))

FIXTURES = Path(__file__).parents[1] / "engine" / "providers" / "fixtures"
NAMES = ("api.openai.com", "upstream.test", "plain.test", "blocked.test")
SDK_SCRIPT = """
import json, openai
client = openai.OpenAI(api_key="sk-test", max_retries=0)
raw = client.chat.completions.with_raw_response.create(
    model="gpt-4o", messages=[{"role": "user", "content": "What is the weather in Paris?"}])
print(json.dumps({"request_id": raw.headers.get("x-palaryn-request-id"),
                  "prompt_tokens": raw.parse().usage.prompt_tokens}))
"""


@pytest.fixture
def agent_ns() -> Iterator[AgentNamespace]:
    ns = AgentNamespace(proxy_port=free_port(), redirect_ports=(80, 443), names=NAMES)
    try:
        ns.setup()
        yield ns
    finally:
        problems = ns.teardown()
        assert not problems and not leftovers(ns), (problems, leftovers(ns))


@pytest.fixture
def sidecar(agent_ns: AgentNamespace, proxy_factory, upstream):
    """One proxy process with a regular listener on 127.0.0.1 and a transparent one on the veth's host end."""
    host = agent_ns.host_ip
    config = {
        "identity": {"client_map": {agent_ns.agent_ip: {"actor": "sidecar-agent", "workspace": "ws-ns"}}},
        # SO_ORIGINAL_DST is the veth address the names resolve to; send it to the fake upstream.
        "resolve_overrides": {
            f"{host}:443": f"127.0.0.1:{upstream.https_port}",
            f"{host}:80": f"127.0.0.1:{upstream.http_port}",
        },
        # That private address stands in for the provider's public one here: let the SSRF guard pass it.
        "ssrf": {"allow": ["127.0.0.1/32", f"{host}/32"]},
    }
    modes = ("--mode", "regular", "--mode", f"transparent@{host}:{agent_ns.proxy_port}")
    return proxy_factory(config, name="sidecar", args=modes)


def agent_env(proxy) -> dict[str, str]:
    """What an agent that only trusts the CA has: no HTTP(S)_PROXY, no NO_PROXY."""
    env = {**base_env(), **{k: proxy.env[k] for k in CA_VARIABLES}}
    assert not any("proxy" in k.lower() for k in env)
    return env


def headers_of(curl_stdout: str) -> dict[str, str]:
    """The response headers `curl -D -` printed (status line first, blank line last)."""
    headers = {}
    for line in curl_stdout.splitlines()[1:]:
        if not line.strip():
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def test_curl_and_openai_sdk_in_a_namespace_are_intercepted(agent_ns, sidecar, upstream):
    upstream.app.serve_fixture(
        "/v1/chat/completions", (FIXTURES / "openai_chat.resp.json").read_bytes(), "application/json"
    )
    env = agent_env(sidecar)
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    out = agent_ns.run(
        "curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", "content-type: application/json",
        "-d", body, "https://api.openai.com/v1/chat/completions", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    curl_id = headers_of(out.stdout)["x-palaryn-request-id"]

    sdk = agent_ns.run(sys.executable, "-c", SDK_SCRIPT, env=env)
    assert sdk.returncode == 0, sdk.stderr
    result = json.loads(sdk.stdout)
    assert result["prompt_tokens"] == 2006

    for request_id in (curl_id, result["request_id"]):
        record = sidecar.record_for(request_id)
        assert (record["actor"], record["workspace"]) == ("sidecar-agent", "ws-ns")
        assert record["client"] == agent_ns.agent_ip
        assert record["kind"] == "llm" and record["provider"] == "openai"
        assert record["host"] == "api.openai.com" and record["decision"] == "allow"
        assert Decimal(record["cost_usd"]) > 0


def test_plain_http_block_and_regular_listener_at_once(agent_ns, sidecar):
    env = agent_env(sidecar)
    plain = agent_ns.run("curl", "-sS", "-D", "-", "http://plain.test/echo?via=port80", env=env)
    assert plain.returncode == 0, plain.stderr
    assert headers_of(plain.stdout).get("x-palaryn-request-id", "").startswith("req_")
    blocked = agent_ns.run("curl", "-sS", "-w", "\n%{http_code}", "https://blocked.test/x", env=env)
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout.endswith("\n403") and "block_domains" in blocked.stdout

    # The same process still serves explicit-proxy clients on its regular listener.
    trust = ssl.create_default_context(cafile=str(sidecar.ca_file))
    with httpx.Client(proxy=sidecar.url, verify=trust, trust_env=False, timeout=20) as client:
        regular = client.get("https://upstream.test/echo?via=regular")
    assert regular.status_code == 200
    records = {r["request_id"]: r for r in sidecar.wait_records(3)}
    mine = records[regular.headers["x-palaryn-request-id"]]
    assert mine["client"] == "127.0.0.1" and mine["actor"] == "anonymous"
    by_url = {r["url"]: r for r in records.values()}
    assert by_url["http://plain.test/echo?via=port80"]["actor"] == "sidecar-agent"
    assert by_url["https://blocked.test/x"]["decision"] == "deny"
