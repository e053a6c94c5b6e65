"""Identity resolution order and proxy credential checks on plain data."""

from __future__ import annotations

import base64

from palaryn_proxy.config import parse_identity
from palaryn_proxy.identity import IdentityResolver, hash_token, parse_basic, parse_tags


def resolver(**raw):
    return IdentityResolver(parse_identity(raw))


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_basic_and_tags():
    assert parse_basic(basic("alice", "t:k")) == ("alice", "t:k")
    assert parse_basic("Bearer x") is None and parse_basic("Basic !!!") is None
    assert parse_tags("a=1, b = two ,junk, =x") == {"a": "1", "b": "two"}


def test_required_tokens():
    r = resolver(require_auth=True, actors={"alice": {"tokens": [hash_token("tok")], "workspace": "w"}})
    assert r.authenticate(("alice", "tok")).ok
    assert not r.authenticate(("alice", "bad")).ok
    assert not r.authenticate(None).ok
    assert not r.authenticate(("mallory", "tok")).ok


def test_resolution_order():
    r = resolver(
        default_actor="anon",
        default_workspace="dw",
        actors={"alice": {"workspace": "research"}},
        client_map={
            "10.0.0.0/8": {"actor": "net-agent", "workspace": "net"},
            "10.1.2.3": {"actor": "host-agent"},
        },
    )
    assert r.resolve(None, {}, "192.0.2.1").actor == "anon"
    assert r.resolve(None, {}, "10.9.9.9").actor == "net-agent"
    assert r.resolve(None, {}, "10.1.2.3").actor == "host-agent"  # most specific network wins
    assert r.resolve(None, {}, "::ffff:10.1.2.3").actor == "host-agent"
    ident = r.resolve(None, {"x-palaryn-actor": "bob", "x-palaryn-task": "t1"}, "10.9.9.9")
    assert (ident.actor, ident.workspace, ident.task, ident.source) == ("bob", "net", "t1", "header")
    authed = r.resolve("alice", {"x-palaryn-actor": "bob"}, "10.9.9.9")
    assert (authed.actor, authed.workspace, authed.source) == ("alice", "research", "proxy_auth")
