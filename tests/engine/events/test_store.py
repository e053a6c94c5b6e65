"""The event store contract, on SQLite and on a real Postgres: every answer checked against the records."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pgproc import free_port

from palaryn_proxy.errors import ConfigError, StorageError
from palaryn_proxy.events import EventStore, FlowQuery, open_event_store

from .conftest import T0

Records = list[dict[str, Any]]
HOUR = 3600.0


def ts(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["ts"]).timestamp()


def within(records: Records, since: float, until: float | None) -> Records:
    return [r for r in records if ts(r) >= since and (until is None or ts(r) < until)]


def expected_summary(records: Records) -> dict[str, Any]:
    blocked = Counter(r["decision"] for r in records if r["decision"] not in ("allow", "redact"))
    return {
        "requests": len(records),
        "llm_requests": sum(r["kind"] == "llm" for r in records),
        "input_tokens": sum((r["usage"] or {}).get("input_tokens", 0) for r in records),
        "output_tokens": sum((r["usage"] or {}).get("output_tokens", 0) for r in records),
        "cost_usd": sum((Decimal(r["cost_usd"]) for r in records if r["cost_usd"]), Decimal(0)),
        "blocked": dict(blocked),
        "dlp_findings": sum(len(r["dlp"]) for r in records),
        "anomalies": sum(len(r["anomalies"]) for r in records),
    }


def ranges() -> list[tuple[float, float | None]]:
    """Ranges on and off hour boundaries, inside one hour, across days, open-ended."""
    hour0 = (T0 // HOUR + 1) * HOUR
    return [
        (0, None),
        (T0 + 1234.567, None),
        (T0 + 1234.567, T0 + 2 * 86400 + 777.1),
        (hour0, hour0 + 10 * HOUR),
        (hour0 + 60, hour0 + 900),
        (hour0 - 1.5, hour0 + 30 * HOUR + 0.25),
        (T0 + 86400, T0 + 86400),
    ]


def test_insert_is_idempotent_by_request_id(store: EventStore, make_records: Callable[..., Records]) -> None:
    records = make_records(120)
    chained = [{**r, "prev_hash": "0" * 64, "hash": "f" * 64} for r in records[:70]]
    assert store.insert(chained) == 70
    assert store.insert(records[:70]) == 0
    assert store.insert(records + records[100:]) == 50  # duplicates inside one batch count once
    assert store.insert([{"ts": records[0]["ts"]}, {"request_id": "no-ts"}]) == 0  # unusable: skipped
    assert store.count() == 120
    assert store.flow(records[5]["request_id"]) == records[5]  # stored without the chain fields
    assert store.flow("nope") is None


def test_summary_equals_the_records_to_the_last_digit(
    store: EventStore, make_records: Callable[..., Records]
) -> None:
    records = make_records(900)
    for i in range(0, 900, 300):
        store.insert(records[i : i + 300])
    for since, until in ranges():
        got = store.summary(since, until)
        want = expected_summary(within(records, since, until))
        assert Decimal(got.pop("cost_usd")) == want.pop("cost_usd"), (since, until)
        assert got == want, (since, until)
    assert store.summary(0)["blocked"]  # the generated records do block some flows


def z(seconds: float) -> str:
    """ISO-8601 UTC with a Z (milliseconds only when there are any), as the store writes bucket_start."""
    text = datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    ms = round(seconds * 1000) % 1000
    return f"{text}.{ms:03d}Z" if ms else text + "Z"


def expected_spend(
    records: Records, by: str, since: float, bucket: int | None
) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for r in records:
        start = since if bucket is None else ts(r) // bucket * bucket
        row = out.setdefault((z(start), r[by] or ""), [0, 0, 0, Decimal(0)])
        row[0] += 1
        row[1] += (r["usage"] or {}).get("input_tokens", 0)
        row[2] += (r["usage"] or {}).get("output_tokens", 0)
        row[3] += Decimal(r["cost_usd"] or 0)
    return out


@pytest.mark.parametrize("by", ["actor", "workspace", "task", "model", "provider"])
def test_spend_groups_and_buckets(store: EventStore, make_records: Callable[..., Records], by: str) -> None:
    records = make_records(500)
    store.insert(records)
    for bucket in (None, 3600, 86400, 300, 7200):
        for since, until in ranges()[1:6]:
            rows = store.spend(by, since, until, bucket)
            got = {
                (row["bucket_start"], row["group"]): [
                    row["requests"], row["input_tokens"], row["output_tokens"], Decimal(row["cost_usd"])
                ]
                for row in rows
            }  # fmt: skip
            assert len(got) == len(rows)
            assert got == expected_spend(within(records, since, until), by, since, bucket), (
                by,
                bucket,
                since,
            )
            order = [(row["bucket_start"], -Decimal(row["cost_usd"])) for row in rows]
            assert order == sorted(order)


def walk(store: EventStore, **filters: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.flows(FlowQuery(limit=37, cursor=cursor, **filters))
        assert len(page) <= 37
        seen += [r["request_id"] for r in page]
        if cursor is None:
            return seen


def test_flows_filters_and_cursor_pages(store: EventStore, make_records: Callable[..., Records]) -> None:
    records = make_records(400)
    store.insert(records)
    newest_first = sorted(records, key=lambda r: (r["ts"], r["request_id"]), reverse=True)
    since, until = T0 + 3600.5, T0 + 2 * 86400
    cases: list[dict[str, Any]] = [
        {},
        {"actor": "actor3"},
        {"decision": "deny"},
        {"host": "api.github.com", "kind": "http"},
        {"since": since, "until": until},
        {"actor": "actor1", "decision": "allow", "since": since},
        {"actor": "nobody"},
    ]
    for filters in cases:
        want = [
            r["request_id"]
            for r in newest_first
            if all(r[k] == v for k, v in filters.items() if k not in ("since", "until"))
            and ts(r) >= filters.get("since", 0)
            and ts(r) < filters.get("until", float("inf"))
        ]
        assert walk(store, **filters) == want, filters  # newest first, no duplicate, no gap
    page, cursor = store.flows(FlowQuery(limit=500))
    assert page == newest_first and cursor is None  # full records


def test_bad_cursor_and_limit(store: EventStore) -> None:
    for bad in ("!!!", "bm90LWEtY3Vyc29y", ""):
        with pytest.raises(ValueError, match="bad cursor"):
            store.flows(FlowQuery(cursor=bad))
    for limit in (0, 501):
        with pytest.raises(ValueError, match="limit"):
            FlowQuery(limit=limit)


def test_security_and_rule_hits(store: EventStore, make_records: Callable[..., Records]) -> None:
    records = make_records(600)
    store.insert(records)
    since, until = T0 + 5000.5, T0 + 2.5 * 86400
    part = within(records, since, until)
    got = store.security(since, until, 3600)
    dlp = Counter((d["type"], d["direction"], d["action"]) for r in part for d in r["dlp"])
    assert {(d["type"], d["direction"], d["action"]): d["count"] for d in got["dlp"]} == dlp
    stages = [{x["stage"] for x in r["reasons"]} for r in part]
    assert got["injection_flags"] == sum("injection" in s for s in stages) > 0
    assert (
        got["ssrf_refusals"]
        == sum("ssrf" in s and r["decision"] == "deny" for s, r in zip(stages, part, strict=True))
        > 0
    )
    anomalies = Counter(a["type"] for r in part for a in r["anomalies"])
    assert {a["type"]: a["count"] for a in got["anomalies"]} == anomalies
    for bucket in (3600, 300, 86400):
        over = store.security(since, until, bucket)["over_time"]
        assert over[0]["bucket_start"] == z(since // bucket * bucket)
        assert len(over) == int((until - 1) // bucket - since // bucket) + 1  # every bucket, empty ones too
        per_bucket = Counter(ts(r) // bucket for r in part for _ in r["dlp"])
        assert {b["bucket_start"]: b["dlp_findings"] for b in over if b["dlp_findings"]} == {
            z(k * bucket): v for k, v in per_bucket.items()
        }
        assert sum(b["anomalies"] for b in over) == sum(anomalies.values())
        assert sum(b["injection_flags"] for b in over) == got["injection_flags"]
        assert sum(b["ssrf_refusals"] for b in over) == got["ssrf_refusals"]

    hits = store.rule_hits(since, until)
    policy = [x for r in part for x in r["reasons"] if x["stage"] == "policy"]
    want = Counter(x["rule"] for x in policy)
    report = Counter(x["rule"] for x in policy if x["message"].startswith("report only"))
    assert {h["rule"]: (h["hits"], h["report_only"]) for h in hits} == {
        k: (v, report[k]) for k, v in want.items()
    }
    assert [h["hits"] for h in hits] == sorted((h["hits"] for h in hits), reverse=True)


def test_prune_keeps_totals_exact(store: EventStore, make_records: Callable[..., Records]) -> None:
    records = make_records(500)
    store.insert(records)
    cut = T0 + 86400 + 1800.25  # inside an hour: that hour's roll-ups are rebuilt
    assert store.prune(cut) == len(records) - len(within(records, cut, None))
    kept = within(records, cut, None)
    assert store.count() == len(kept)
    assert store.prune(cut) == 0
    for since in (0, cut - 7200, cut + 100):
        got = store.summary(since)
        want = expected_summary(within(kept, since, None))
        assert Decimal(got.pop("cost_usd")) == want.pop("cost_usd")
        assert got == want
    spend = {row["group"]: row["requests"] for row in store.spend("actor", 0, None, None)}
    assert spend == dict(Counter(r["actor"] for r in kept))
    assert sum(h["hits"] for h in store.rule_hits(0)) == sum(
        x["stage"] == "policy" for r in kept for x in r["reasons"]
    )
    walked = walk(store)
    assert len(walked) == len(kept)
    for since in (0, cut - 7200):
        dlp = store.security(since, None, 3600)["dlp"]
        assert sum(d["count"] for d in dlp) == sum(len(r["dlp"]) for r in within(kept, since, None))


def test_concurrent_reads_while_writing(store: EventStore, make_records: Callable[..., Records]) -> None:
    import threading

    records = make_records(2000, seed=11)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                store.summary(0)
                store.flows(FlowQuery(actor="actor1"))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(0, 2000, 200):
        store.insert(records[i : i + 200])
    for t in readers:
        t.join()
    assert not errors
    assert store.summary(0)["requests"] == 2000


def test_open_errors_name_events_url(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="events.url"):
        open_event_store("mysql://x")
    with pytest.raises(ConfigError, match="events.url"):
        open_event_store("sqlite://")
    with pytest.raises(StorageError, match="events.url"):
        open_event_store(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError, match="events.url"):
        open_event_store(f"sqlite://{tmp_path}/dir.db")


def test_random_batches_match(store: EventStore, make_records: Callable[..., Records]) -> None:
    """Inserting in random batch sizes with repeats gives the same roll-ups as the raw rows."""
    records = make_records(700, seed=3)
    rng = random.Random(5)
    i = 0
    while i < len(records):
        n = rng.randint(1, 90)
        store.insert(records[max(0, i - 5) : i + n])
        i += n
    got = store.summary(T0 + 0.5)
    want = expected_summary(within(records, T0 + 0.5, None))
    assert Decimal(got.pop("cost_usd")) == want.pop("cost_usd")
    assert got == want


def test_range_edges_to_the_millisecond(store: EventStore, make_records: Callable[..., Records]) -> None:
    hour = (T0 // HOUR + 5) * HOUR
    offsets = [-0.001, 0.0, 0.001, HOUR - 0.001, HOUR, 2 * HOUR - 0.001]
    records = make_records(len(offsets))
    for record, offset in zip(records, offsets, strict=True):
        record["ts"] = z(hour + offset) if (hour + offset) % 1 else z(hour + offset)[:-1] + ".000Z"
    store.insert(records)
    cases = {
        (hour, hour + HOUR): 3,
        (hour - 0.001, hour + HOUR): 4,
        (hour, hour + HOUR + 0.001): 4,
        (hour, None): 5,
    }
    cases[(hour + 0.001, hour + 2 * HOUR - 0.001)] = 3
    for (since, until), count in cases.items():
        assert store.summary(since, until)["requests"] == count, (since, until)
        assert sum(r["requests"] for r in store.spend("actor", since, until, 3600)) == count
        assert len(walk(store, since=since, until=until)) == count


def test_two_writers_on_one_store(store_url: str, make_records: Callable[..., Records]) -> None:
    """Two replicas writing the same hours (and some of the same flows) at once: no deadlock, exact totals."""
    import threading

    records = make_records(1600, seed=21)
    stores = [open_event_store(store_url), open_event_store(store_url)]
    errors: list[BaseException] = []

    def write(store: EventStore, part: Records) -> None:
        try:
            for i in range(0, len(part), 100):
                store.insert(part[i : i + 100])
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    parts = [records[:1000], records[600:][::-1]]  # 400 flows written by both, in opposite orders
    threads = [threading.Thread(target=write, args=pair) for pair in zip(stores, parts, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = stores[0].summary(0)
    want = expected_summary(records)
    assert Decimal(got.pop("cost_usd")) == want.pop("cost_usd")
    assert got == want and stores[1].count() == 1600
    for s in stores:
        s.close()
