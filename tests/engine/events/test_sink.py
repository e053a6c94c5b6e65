"""EventSink: batches off the caller's thread, flush, drops counted when full, close flushes, retention."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pgproc import PostgresProcess, require_postgres

from palaryn_proxy.events import EventSink, EventStore, open_event_store

from .conftest import iso

Records = list[dict[str, Any]]


def test_batches_and_flush(store: EventStore, make_records: Callable[..., Records]) -> None:
    written: list[int] = []
    sink = EventSink(store, batch_max=40, flush_seconds=30, on_written=written.append, retention_days=3650)
    sink.start()
    records = make_records(250, start=time.time() - 3600)
    for record in records:
        sink.submit(record)
    sink.flush(10)  # does not wait flush_seconds for a batch to fill
    assert store.count() == 250
    assert sum(written) == 250 and max(written) <= 40 and len(written) >= 7
    sink.submit(records[0])  # a duplicate: nothing new written
    sink.flush(10)
    assert sink.written == 250 and sink.dropped == 0
    sink.close()


def test_a_batch_waits_at_most_flush_seconds(store: EventStore, make_records: Callable[..., Records]) -> None:
    sink = EventSink(store, batch_max=1000, flush_seconds=0.05, retention_days=3650)
    sink.start()
    sink.submit(make_records(1, start=time.time())[0])
    deadline = time.monotonic() + 5
    while store.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.count() == 1
    sink.close()


def test_full_queue_drops_and_counts(store: EventStore, make_records: Callable[..., Records]) -> None:
    drops: list[int] = []
    sink = EventSink(store, queue_max=5, on_drop=drops.append, retention_days=3650)
    records = make_records(8, start=time.time())
    started = time.monotonic()
    for record in records:  # the writer is not started: the queue fills
        sink.submit(record)
    assert time.monotonic() - started < 0.5  # never blocks
    assert sink.dropped == 3 and sum(drops) == 3
    sink.start()
    sink.flush(10)
    assert store.count() == 5
    sink.close()


def test_close_flushes_and_closes_the_store(store_url: str, make_records: Callable[..., Records]) -> None:
    sink = EventSink(open_event_store(store_url), flush_seconds=60, retention_days=3650)
    sink.start()
    for record in make_records(30, start=time.time()):
        sink.submit(record)
    sink.close()
    sink.submit(make_records(1, seed=99)[0])  # after close: dropped, never raises
    assert sink.dropped == 1
    reopened = open_event_store(store_url)
    assert reopened.count() == 30
    reopened.close()


def test_submit_from_many_threads(store: EventStore, make_records: Callable[..., Records]) -> None:
    records = make_records(1200, start=time.time() - 60)
    sink = EventSink(store, batch_max=100, flush_seconds=0.02, retention_days=3650)
    sink.start()
    threads = [
        threading.Thread(target=lambda part=records[i::4]: [sink.submit(r) for r in part]) for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.flush(20)
    assert store.count() == 1200
    sink.close()


def test_prunes_at_start(store: EventStore, make_records: Callable[..., Records]) -> None:
    now = time.time()
    old = make_records(20, start=now - 10 * 86400, span=86400, seed=1)
    fresh = make_records(10, start=now - 3600, span=600, seed=2)
    store.insert(old + fresh)
    sink = EventSink(store, retention_days=2)
    sink.start()
    sink.submit({**fresh[0], "request_id": "new-one", "ts": iso(now)})
    sink.flush(10)  # the writer prunes before its first batch
    assert store.count() == 11
    assert store.summary(0)["requests"] == 11
    sink.close()


def test_store_errors_are_reported_not_raised(tmp_path: Any, make_records: Callable[..., Records]) -> None:
    store = open_event_store(f"sqlite://{tmp_path}/e.db")
    errors: list[Exception] = []
    sink = EventSink(store, on_error=errors.append, retention_days=3650)
    sink.start()
    sink.flush()
    store.close()  # the store fails under the sink: the batch is retried until close
    sink.submit(make_records(1, start=time.time())[0])
    sink.flush(0.8)
    assert len(errors) >= 2 and sink.failed == 0
    started = time.monotonic()
    sink.close(timeout=5)
    assert time.monotonic() - started < 2 and sink.failed == 1


def test_a_postgres_restart_loses_nothing(make_records: Callable[..., Records]) -> None:
    server = PostgresProcess(require_postgres()).start()
    try:
        errors: list[Exception] = []
        sink = EventSink(open_event_store(server.url), flush_seconds=0.01, on_error=errors.append)
        sink.start()
        records = make_records(40, start=time.time() - 60)
        for record in records[:20]:
            sink.submit(record)
        sink.flush(10)
        server.stop(remove=False)
        for record in records[20:]:
            sink.submit(record)
        time.sleep(0.3)
        server.start()
        sink.flush(20)
        assert errors and sink.failed == 0
        assert sink.store.count() == 40
        sink.close()
    finally:
        server.stop()
