"""The anomaly stage's engine parts: config keys for persistence and the webhook, snapshots in storage
(own and peers merged), the rate-limited webhook, and the `anomalies` report over audit records."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from palaryn_proxy.anomaly import AnomalyConfig, AnomalyDetector, AnomalyType
from palaryn_proxy.anomaly.store import (
    SNAPSHOT_PREFIX,
    AnomalyStore,
    BaselineKeeper,
    decode,
    encode,
    persists,
)
from palaryn_proxy.anomaly.webhook import Webhook
from palaryn_proxy.cli.anomalies import alerts, render
from palaryn_proxy.config import load_config
from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.storage import open_storage

T0 = 1_699_999_200.0


def test_persistence_and_webhook_keys_have_defaults_and_checked_values() -> None:
    cfg = AnomalyConfig.from_mapping({})
    assert (cfg.persist, cfg.persist_interval_seconds, cfg.webhook_url, cfg.webhook_max_per_minute) == (
        True, 60, None, 10,
    )  # fmt: skip
    cfg = AnomalyConfig.from_mapping(
        {"persist": False, "persist_interval_seconds": 5, "webhook_url": "https://h.example/x?t=1",
         "webhook_max_per_minute": 3}
    )  # fmt: skip
    assert (cfg.persist, cfg.persist_interval_seconds, cfg.webhook_url, cfg.webhook_max_per_minute) == (
        False, 5, "https://h.example/x?t=1", 3,
    )  # fmt: skip
    for bad, key in (
        ({"persist": "yes"}, "anomaly.persist"),
        ({"persist_interval_seconds": 0}, "anomaly.persist_interval_seconds"),
        ({"webhook_url": "ftp://h/x"}, "anomaly.webhook_url"),
        ({"webhook_url": "https://"}, "anomaly.webhook_url"),
        ({"webhook_url": "http://[::1/x"}, "anomaly.webhook_url"),
        ({"webhook_max_per_minute": 0}, "anomaly.webhook_max_per_minute"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            AnomalyConfig.from_mapping(bad)


def test_persists_only_when_detection_and_persistence_are_on() -> None:
    assert persists({}) is True
    assert persists({"anomaly": {"persist": False}}) is False
    assert persists({"anomaly": {"enabled": False}}) is False


def trained(actor: str, tool: str) -> AnomalyDetector:
    det = AnomalyDetector(AnomalyConfig())
    det.before_request(actor=actor, tool=tool, now=T0)
    det.after_response(actor=actor, tool=tool, status=200, latency_s=0.2, response_bytes=4000, now=T0)
    return det


def test_snapshot_text_round_trips_and_rejects_garbage() -> None:
    state = trained("alice", "api.github.com").export_state()
    text = encode(state)
    assert text.isascii()
    assert decode(text) == json.loads(json.dumps(state))
    for garbage in ("not base64 !", "aGVsbG8=", ""):
        with pytest.raises(StorageError):
            decode(garbage)


def test_export_in_parts_equals_the_whole_snapshot() -> None:
    det = AnomalyDetector(AnomalyConfig())
    for i in range(1200):
        det.before_request(actor=f"a{i}", tool=f"t{i % 7}", workspace="w", request_bytes=2000, now=T0 + i)
    data, parts = det.export_parts(500)
    sizes = []
    for part in parts:
        sizes.append(len(part))
        data["entities"].extend(part)
    assert sizes == [500, 500, 208]  # 1200 actors, 7 tools, 1 workspace
    assert data == det.export_state()


def test_restart_merges_own_and_peer_snapshots_and_skips_a_corrupt_one() -> None:
    async def scenario() -> tuple[AnomalyDetector, int, int, list[str]]:
        storage = open_storage("memory://")
        cfg = AnomalyConfig()
        await AnomalyStore(storage, cfg, "host-a:8080").save(trained("alice", "api.github.com"))
        await AnomalyStore(storage, cfg, "host-b:8080").save(trained("bob", "api.openai.com"))
        await storage.put(SNAPSHOT_PREFIX + "host-c:8080", "garbage")
        store = AnomalyStore(storage, cfg, "host-a:8080")
        keys = await store.snapshot_keys()
        restored, snapshots, entities = await store.load()
        return restored, snapshots, entities, keys

    restored, snapshots, entities, keys = asyncio.run(scenario())
    assert keys[0] == SNAPSHOT_PREFIX + "host-a:8080"  # its own first, then the peers
    assert (snapshots, entities) == (2, 4)  # two readable snapshots of (actor, tool) each
    # Both actors' tools are remembered: a known tool is quiet, another tool is new for each.
    assert restored.before_request(actor="alice", tool="api.github.com", now=T0 + 5) == []
    assert restored.before_request(actor="bob", tool="api.openai.com", now=T0 + 5) == []
    new = restored.before_request(actor="bob", tool="api.github.com", now=T0 + 6)
    assert [a.type for a in new] == [AnomalyType.NEW_TOOL_USAGE]


def test_keeper_saves_at_stop_and_survives_an_unreachable_store() -> None:
    errors: list[int] = []

    async def scenario() -> tuple[str | None, AnomalyDetector, AnomalyDetector]:
        storage = open_storage("memory://")
        live = trained("carol", "api.github.com")
        keeper = BaselineKeeper(AnomalyStore(storage, live.config, "me:1"), 3600, lambda: errors.append(1))
        assert await keeper.restore(live) is live  # nothing stored yet
        keeper.start(lambda: live)
        await keeper.stop()  # the final save
        saved = await storage.get(SNAPSHOT_PREFIX + "me:1")
        down = open_storage("redis://127.0.0.1:9/0?socket_timeout=0.2&socket_connect_timeout=0.2")
        other = AnomalyDetector(AnomalyConfig())
        dead = BaselineKeeper(AnomalyStore(down, live.config, "me:2"), 3600, lambda: errors.append(2))
        kept = await dead.restore(other)
        await dead.save(other)
        await down.close()
        return saved, other, kept

    saved, other, kept = asyncio.run(scenario())
    assert saved is not None and any(e["name"] == "carol" for e in decode(saved)["entities"])
    assert kept is other and errors == [2, 2]  # restore and save failed, counted, not raised


class Receiver:
    def __init__(self, status: int = 204) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_webhook_posts_json_at_most_n_per_minute(receiver: Receiver) -> None:
    outcomes: list[str] = []
    now = [100.0]

    async def scenario() -> None:
        hook = Webhook(receiver.url, 2, outcomes.append, clock=lambda: now[0])
        hook.start()
        for i in range(4):
            hook.notify({"alert": {"type": "repeated_request", "n": i}})
        now[0] += 61.0  # a minute later the allowance is back
        hook.notify({"alert": {"type": "cost_spike", "n": 4}})
        await hook.stop(flush_seconds=5.0)

    asyncio.run(scenario())
    assert [b["alert"]["n"] for b in receiver.bodies] == [0, 1, 4]
    assert sorted(outcomes) == ["dropped", "dropped", "sent", "sent", "sent"]


def test_webhook_failure_is_counted_never_raised() -> None:
    outcomes: list[str] = []

    async def scenario() -> None:
        hook = Webhook("http://127.0.0.1:9/nothing-listens", 5, outcomes.append)
        hook.start()
        hook.notify({"alert": {}})
        await hook.stop(flush_seconds=5.0)

    asyncio.run(scenario())
    assert outcomes == ["failed"]


def record(ts: str, actor: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "ts": ts,
        "actor": actor,
        "request_id": f"r-{ts}",
        "decision": "allow",
        "anomalies": list(entries),
    }


def test_report_lists_first_alerts_filtered_by_time_and_actor() -> None:
    spike = {"type": "request_rate_spike", "severity": "low", "entity": "actor:a", "action": "block",
             "message": "actor a: requests 12 vs baseline 2", "ts": 1.0}  # fmt: skip
    records = [
        record("2024-01-01T10:00:00.000Z", "a", spike),
        record("2024-01-01T11:00:00.000Z", "a", {**spike, "first": True}),
        record("2024-01-01T11:00:01.000Z", "a", {**spike, "first": False}),  # a repeat in the same bucket
        record("2024-01-01T11:30:00.000Z", "b", {**spike, "entity": "actor:b"}),
        {"ts": "2024-01-01T11:40:00.000Z", "actor": "a", "anomalies": []},
    ]
    since = datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
    rows = list(alerts(records, since, None))
    assert [(r["ts"], r["actor"]) for r in rows] == [
        ("2024-01-01T11:00:00.000Z", "a"),
        ("2024-01-01T11:30:00.000Z", "b"),
    ]
    assert [r["actor"] for r in alerts(records, None, "a")] == ["a", "a"]
    table = render(rows)
    assert table.splitlines()[0].split() == ["ts", "actor", "type", "severity", "action", "entity", "message"]
    assert "request_rate_spike" in table and render([]) == "no anomalies"


def test_config_check_reports_anomaly_errors(tmp_path) -> None:
    path = tmp_path / "palaryn.yaml"
    path.write_text("anomaly:\n  repeat_threshold: 1\n")
    with pytest.raises(ConfigError, match=r"anomaly\.repeat_threshold"):
        load_config(str(path), {})
    path.write_text("anomaly:\n  persist_interval_seconds: 30\n  actions: {cost_spike: block}\n")
    assert load_config(str(path), {}).anomaly["persist_interval_seconds"] == 30
