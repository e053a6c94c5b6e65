"""Admin API query parameters: times, buckets, limits."""

from __future__ import annotations

import pytest

from palaryn_proxy.console.params import BadParam, parse_bucket, parse_limit, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - 86400),
        ("15m", NOW - 900),
        ("7d", NOW - 7 * 86400),
        ("1700000000", 1_700_000_000.0),
        ("2026-12-08T00:00:00Z", 1_796_688_000.0),
        ("2026-12-08T01:00:00+01:00", 1_796_688_000.0),
        ("2026-12-08", 1_796_688_000.0),
    ],
)
def test_times(text, expected):
    assert parse_time("since", text, NOW) == expected


def test_bad_time_names_the_parameter():
    with pytest.raises(BadParam, match="since='yesterday'.*24h"):
        parse_time("since", "yesterday", NOW)


def test_buckets():
    assert parse_bucket("1h", NOW - 86400, NOW) == 3600
    assert parse_bucket(None, NOW - 86400, NOW) == 3600
    assert parse_bucket("none", NOW - 86400, NOW) is None
    with pytest.raises(BadParam, match="at least a minute"):
        parse_bucket("10s", NOW - 86400, NOW)
    with pytest.raises(BadParam, match="wider bucket"):
        parse_bucket("1m", NOW - 30 * 86400, NOW)


def test_limits():
    assert parse_limit(None) == 50 and parse_limit("500") == 500
    for bad in ("0", "501", "-1", "ten"):
        with pytest.raises(BadParam, match="1 to 500"):
            parse_limit(bad)
