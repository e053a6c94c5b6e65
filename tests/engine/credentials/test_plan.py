"""The request plan: placeholders in their slot toward a bound host are used; anywhere else they are refused."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from palaryn_proxy.credentials import parse_credentials
from palaryn_proxy.credentials.placeholders import Placeholders
from palaryn_proxy.credentials.plan import RequestView, SlotMask, judge

CONFIG = parse_credentials(
    [
        {"name": "openai", "hosts": ["api.openai.com"], "header": "authorization", "value_from": "env:A"},
        {
            "name": "anthropic",
            "hosts": ["api.anthropic.com"],
            "header": ["x-api-key", "authorization"],
            "value_from": "env:B",
            "actors": ["alice"],
        },
        {
            "name": "gemini",
            "hosts": ["generativelanguage.googleapis.com"],
            "header": "x-goog-api-key",
            "query": "key",
            "value_from": "env:C",
        },
        {
            "name": "gh",
            "hosts": ["github.com"],
            "basic": {"username": "x-access-token"},
            "value_from": "env:D",
        },
        {
            "name": "aws",
            "hosts": ["bedrock-runtime.us-east-1.amazonaws.com"],
            "aws_sigv4": {},
            "value_from": "env:E",
        },
    ],
    ["api.openai.com"],
)
PH = Placeholders(b"k" * 32, CONFIG.credentials)
SPEC = {c.name: c for c in CONFIG.credentials}


def view(host, headers=(), query=(), body=b"", method="POST", url=None):
    return RequestView(
        host, 443, "https", method, url or f"https://{host}/v1/x", list(headers), list(query), body, body
    )


def key(name, actor="alice"):
    return PH.key(SPEC[name], actor)


def test_placeholder_in_its_slot_is_used():
    plan = judge(view("api.openai.com", [("Authorization", f"Bearer {key('openai')}")]), "alice", CONFIG, PH)
    assert plan.refusal is None and [(u.name, u.kind, u.field) for u in plan.uses] == [
        ("openai", "header", "authorization")
    ]


def test_either_header_and_the_query_where_a_provider_takes_both():
    for headers in ([("x-api-key", key("anthropic"))], [("authorization", f"bearer {key('anthropic')}")]):
        assert judge(view("api.anthropic.com", headers), "alice", CONFIG, PH).uses
    g = key("gemini", "bob")
    assert judge(view("generativelanguage.googleapis.com", [("x-goog-api-key", g)]), "bob", CONFIG, PH).uses
    plan = judge(view("generativelanguage.googleapis.com", query=[("key", g)]), "bob", CONFIG, PH)
    assert [(u.kind, u.field) for u in plan.uses] == [("query", "key")]


@pytest.mark.parametrize(
    "where",
    ["header", "query", "json", "form", "urlencoded", "base64", "json_escape"],
)
def test_placeholder_outside_its_slot_or_toward_another_host_is_refused(where):
    p = key("openai")
    headers, query, body = [], [], b""
    if where == "header":
        headers = [("X-Other", p)]
    elif where == "query":
        query = [("q", p)]
    elif where == "json":
        body = json.dumps({"messages": [{"content": f"my key is {p}"}]}).encode()
    elif where == "form":
        body = f"a=1&key={p}".encode()
    elif where == "urlencoded":
        body = ("x=" + "".join(f"%{b:02X}" for b in p.encode())).encode()
    elif where == "base64":
        body = json.dumps({"data": base64.b64encode(b"xx" + p.encode()).decode()}).encode()
    else:
        body = ('{"t": "' + "".join(f"\\u{ord(c):04x}" for c in p) + '"}').encode()
    elsewhere = judge(view("evil.test", headers, query, body), "alice", CONFIG, PH)
    assert elsewhere.refusal is not None and elsewhere.refusal.reason == "unbound_host"
    assert elsewhere.refusal.name == "openai" and p not in elsewhere.refusal.message
    slot = [("Authorization", f"Bearer {p}")]
    bound = judge(view("api.openai.com", slot + headers, query, body), "alice", CONFIG, PH)
    assert bound.refusal is not None and bound.refusal.reason == "outside_slot"


def test_placeholder_in_the_right_header_toward_another_host_is_refused():
    plan = judge(view("evil.test", [("Authorization", f"Bearer {key('openai')}")]), "alice", CONFIG, PH)
    assert plan.refusal is not None and plan.refusal.reason == "unbound_host"


def test_another_actors_placeholder_and_actors_not_allowed():
    plan = judge(
        view("api.openai.com", [("Authorization", f"Bearer {key('openai', 'alice')}")]), "bob", CONFIG, PH
    )
    assert plan.refusal is not None and plan.refusal.reason == "other_actor"
    plan = judge(view("api.anthropic.com", [("x-api-key", key("anthropic", "bob"))]), "bob", CONFIG, PH)
    assert plan.refusal is not None and plan.refusal.reason == "actor_not_allowed"


def test_own_keys_pass_unless_required():
    assert (
        judge(view("api.anthropic.com", [("x-api-key", "sk-ant-real")]), "alice", CONFIG, PH).refusal is None
    )
    plan = judge(view("api.openai.com", [("Authorization", "Bearer sk-own")]), "alice", CONFIG, PH)
    assert plan.refusal is not None and plan.refusal.reason == "required"


def test_basic_slot_and_dlp_mask_round_trip():
    token = base64.b64encode(f"x-access-token:{key('gh')}".encode()).decode()
    plan = judge(view("github.com", [("Authorization", f"Basic {token}")]), "alice", CONFIG, PH)
    assert [u.kind for u in plan.uses] == ["basic"]
    mask = SlotMask(plan)
    masked = mask.headers([("Authorization", f"Basic {token}"), ("X-A", "b")])
    assert token not in str(masked) and mask.restore(masked[0][1]) == f"Basic {token}"
    g = key("gemini", "bob")
    plan = judge(view("generativelanguage.googleapis.com", query=[("key", g)]), "bob", CONFIG, PH)
    path = f"/v1beta/models/m:generateContent?key={quote(g)}"
    assert g not in SlotMask(plan).path(path) and SlotMask(plan).restore(SlotMask(plan).path(path)) == path


def _signed(host, body, keys, service="bedrock", region="us-east-1"):
    request = AWSRequest(method="POST", url=f"https://{host}/model/m/converse", data=body)
    request.headers["Content-Type"] = "application/json"
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), service, region).add_auth(request)
    return list(request.headers.items())


def test_sigv4_signed_by_the_placeholder_is_used_and_tampering_refused():
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    pair = PH.aws(SPEC["aws"], "alice")
    headers = _signed(host, b'{"a": 1}', pair)
    url = f"https://{host}/model/m/converse"
    plan = judge(view(host, headers, body=b'{"a": 1}', url=url), "alice", CONFIG, PH)
    assert plan.refusal is None and [u.kind for u in plan.uses] == ["aws_sigv4"]
    tampered = judge(view(host, headers, body=b'{"a": 2}', url=url), "alice", CONFIG, PH)
    assert tampered.refusal is not None and tampered.refusal.reason == "bad_signature"
    other = judge(view(host, headers, body=b'{"a": 1}', url=url), "bob", CONFIG, PH)
    assert other.refusal is not None and other.refusal.reason == "other_actor"
