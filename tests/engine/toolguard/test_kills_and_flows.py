"""Kill switch scopes, durations and storage round trips (real SQLite); the flow guard's memory and window."""

from __future__ import annotations

import asyncio

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.storage import open_storage
from palaryn_proxy.toolguard.flows import FlowMemory, parse_flow_guard
from palaryn_proxy.toolguard.killcut import KillCut
from palaryn_proxy.toolguard.kills import KillBook, covering, parse_duration, scope_of


def test_durations_and_scopes():
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "2d", None)] == [
        90,
        90,
        900,
        3600,
        172800,
        None,
    ]
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert scope_of("a", None, False) == ("actor", "a") and scope_of(None, None, True) == ("all", "*")
    with pytest.raises(ValueError):
        scope_of("a", "w", False)


def test_kills_round_trip_and_cover_their_scope(tmp_path):
    async def go() -> None:
        book = KillBook(open_storage(f"sqlite:///{tmp_path / 'k.db'}", write_behind=False))
        await book.kill("workspace", "red", "drill", "me", None)
        await book.kill("actor", "gone", "", "me", 0.2)
        kills = await book.all()
        assert covering(kills, "x", "red") is not None and covering(kills, "x", "blue") is None
        assert covering(kills, "gone", "blue") is not None
        await asyncio.sleep(0.3)  # the timed kill lapses
        assert covering(await book.all(), "gone", "blue") is None
        assert await book.unkill("workspace", "red") and not await book.unkill("workspace", "red")
        await book.storage.close()

    asyncio.run(go())


def test_kill_cut_ends_on_an_event_boundary():
    state = {"killed": None}
    cuts = []
    cut = KillCut(None, "sse", lambda: state["killed"], cuts.append)
    assert cut(b"data: 1\n\ndata: 2") == [b"data: 1\n\n"]
    state["killed"] = "killed: actor 'a'"
    out = cut(b"\n\ndata: 3\n\n")
    assert out[0].startswith(b"event: error") and b'"killed"' in out[0]
    assert cut(b"data: 4\n\n") == [] and cuts == ["killed: actor 'a'"]


def test_flow_memory_needs_both_legs_within_the_window():
    cfg = parse_flow_guard({"flow_guard": {"window_seconds": 10, "private_hosts": ["db.internal"],
                                           "trusted_hosts": ["db.internal", "*.corp"]}})  # fmt: skip
    mem = FlowMemory(cfg)
    mem.received("actor:a", "r1", "db.internal", sensitive=False, injected=False, now=100)
    assert mem.exfiltration("actor:a", "evil.example", "POST", True, False, now=101) is None  # one leg
    mem.received("actor:a", "r2", "wiki.corp", sensitive=False, injected=True, now=102)
    why = mem.exfiltration("actor:a", "evil.example", "POST", True, False, now=103)
    assert why is not None and "r1" in why and "r2" in why
    assert (
        mem.exfiltration("actor:a", "evil.example", "GET", False, False, now=103) is None
    )  # carries nothing
    assert mem.exfiltration("actor:a", "api.corp", "POST", True, False, now=103) is None  # trusted
    assert mem.exfiltration("actor:b", "evil.example", "POST", True, False, now=103) is None
    assert mem.exfiltration("actor:a", "evil.example", "GET", False, True, now=111) is None  # window passed


def test_flow_guard_config_errors():
    assert not parse_flow_guard({}).enabled
    with pytest.raises(ConfigError, match="flow_guard.action"):
        parse_flow_guard({"flow_guard": {"action": "nuke"}})
    with pytest.raises(ConfigError, match="flow_guard.private_hosts"):
        parse_flow_guard({"flow_guard": {"private_hosts": "db"}})
