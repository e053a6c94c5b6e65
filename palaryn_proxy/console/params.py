"""Query parameters of the admin API: times (`24h`, ISO-8601, epoch seconds), buckets, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_BUCKETS = 5000  # a spend or security query answers at most this many buckets per group


class BadParam(ValueError):
    """A query parameter that cannot be read; the message names it and shows what works."""


def duration_seconds(text: str) -> float | None:
    match = _DURATION.fullmatch(text.strip().lower())
    return float(match.group(1)) * _UNITS[match.group(2)] if match else None


def parse_time(name: str, text: str | None, now: float, default: float | None = None) -> float | None:
    """`24h` / `7d` (that long before now), ISO-8601 (naive = UTC) or epoch seconds."""
    if text is None or text == "":
        return default
    ago = duration_seconds(text)
    if ago is not None:
        return now - ago
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadParam(
            f"{name}={text[:40]!r}: use a duration before now (15m, 24h, 7d), ISO-8601 or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_bucket(text: str | None, since: float, until: float, default: str = "1h") -> int | None:
    """Bucket width in seconds (`5m`, `1h`, `1d`), or None for `none` (one row per group)."""
    text = default if text is None or text == "" else text
    if text.lower() == "none":
        return None
    seconds = duration_seconds(text)
    if seconds is None or seconds < 60 or seconds != int(seconds):
        raise BadParam(f"bucket={text[:20]!r}: use a width of at least a minute (5m, 1h, 1d) or none")
    if (until - since) / seconds > MAX_BUCKETS:
        raise BadParam(f"bucket={text}: more than {MAX_BUCKETS} buckets in that range; use a wider bucket")
    return int(seconds)


def parse_limit(text: str | None, default: int = 50, most: int = 500) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise BadParam(f"limit={text[:20]!r}: use a whole number from 1 to {most}")
    return int(text)


def parse_choice(name: str, text: str | None, choices: tuple[str, ...], default: str | None = None) -> str:
    value = default if text is None or text == "" else text
    if value not in choices:
        raise BadParam(f"{name}={str(text)[:30]!r}: use one of {', '.join(choices)}")
    return value
