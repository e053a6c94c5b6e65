"""Record -> row conversions: exact money in pico-dollars, millisecond times, signals."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from palaryn_proxy.events.rows import cost_to_pico, iso, parse_ts_ms, pico_to_str, to_ms, to_row


def test_money_round_trips_exactly() -> None:
    rng = random.Random(3)
    values = [0, 1, 10**12, 10**12 + 1, -5, 123_456_789_012_345] + [
        rng.randint(-(10**15), 10**15) for _ in range(2000)
    ]
    for pico in values:
        text = pico_to_str(pico)
        assert Decimal(text) == Decimal(pico) / 10**12
        assert cost_to_pico(text) == pico
        assert text == "0" or not text.endswith(("0", ".")) or "." not in text
    assert [pico_to_str(p) for p in (0, 1, 10**12, -1_500_000_000_000)] == [
        "0",
        "0.000000000001",
        "1",
        "-1.5",
    ]
    assert cost_to_pico("0.0000150") == 15_000_000 and cost_to_pico(None) == 0 and cost_to_pico("junk") == 0


def test_times() -> None:
    assert parse_ts_ms("2026-12-08T03:31:24.123Z") == 1_796_700_684_123
    assert (
        iso(1_796_700_684_123) == "2026-12-08T03:31:24.123Z"
        and iso(1_796_700_684_000) == "2026-12-08T03:31:24Z"
    )
    assert to_ms(1_796_700_684.123) == 1_796_700_684_123  # float noise does not move a whole millisecond
    assert to_ms(1_796_700_684.1231) == 1_796_700_684_124  # a fraction rounds up: [since, ...) stays exact
    with pytest.raises(ValueError):
        parse_ts_ms(5)


def test_row_signals() -> None:
    record = {
        "request_id": "r1",
        "ts": "2026-12-08T03:31:24.123Z",
        "decision": "deny",
        "kind": "http",
        "reasons": [
            {"stage": "policy", "rule": "p/r", "message": "report only, would have denied: x"},
            {"stage": "policy", "rule": "p/q", "message": "denied"},
            {"stage": "ssrf", "rule": "ssrf:private", "message": "no"},
            {"stage": "injection", "rule": "x", "message": "y"},
            {"stage": "injection", "rule": "x2", "message": "y"},
        ],
        "dlp": [{"type": "jwt", "direction": "request", "location": "body", "action": "block"}, "junk"],
        "anomalies": [{"type": "rate_spike"}],
        "actor": "a\x00b",
        "hash": "h",
        "prev_hash": "p",
    }
    row = to_row(record)
    assert row is not None
    assert sorted(row.signals) == sorted(
        [
            ("policy", "p/r", "", "", 1),
            ("policy", "p/q", "", "", 0),
            ("injection", "", "", "", 0),  # one flag per flow
            ("ssrf", "", "", "", 0),  # denied with an ssrf reason
            ("dlp", "jwt", "request", "block", 0),
            ("anomaly", "rate_spike", "", "", 0),
        ]
    )
    assert row.actor == "ab" and row.task == "" and row.n_dlp == 1 and '"hash"' not in row.record
    assert to_row({**record, "decision": "allow"}).signals.count(("ssrf", "", "", "", 0)) == 0  # type: ignore[union-attr]
    assert to_row({"request_id": "x", "ts": "yesterday"}) is None
