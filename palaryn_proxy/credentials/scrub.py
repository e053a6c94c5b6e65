"""Scrubbing: every real credential value (as sent, URL-encoded, JSON-escaped, base64 at any alignment) is
replaced in responses before the agent sees them; streams keep a short tail so a value split across chunks is
still found."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from palaryn_proxy.types import Reason

MIN_VALUE = 8  # shorter values would scrub ordinary text
MIN_FRAGMENT = 12  # a base64 run inside a longer blob must be at least this long to be scrubbed


def scrubbed(found: Iterable[str]) -> Reason:
    """The reason a flow records when real values were scrubbed from its response (names only)."""
    names = ", ".join(sorted(found))
    return Reason("credentials", "scrubbed", f"real value of credential {names} scrubbed from the response")


def replacement(name: str) -> bytes:
    return f"[credential:{name}]".encode()


def forms(value: str) -> set[bytes]:
    """The byte strings a value may appear as in a response."""
    raw = value.encode()
    out = {raw, raw.replace(b"/", b"\\/")}
    for q in (quote(value, safe=""), quote_plus(value), quote(value)):
        out.update({q.encode(), re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), q).encode()})
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        first = math.ceil(8 * k / 6)
        last = (8 * (k + len(raw)) - 6) // 6  # the last character only value bytes determine
        stable = enc[first : last + 1]
        if k == 0:
            out.add(enc.encode())
        if len(stable) >= MIN_FRAGMENT or k == 0:
            out.update({stable.encode(), stable.replace("+", "-").replace("/", "_").encode()})
    return {f for f in out if f}


class Scrubber:
    """Replaces the given (name, value) pairs' forms; built once per set of values."""

    def __init__(self, values: Iterable[tuple[str, str]]):
        self.names: dict[bytes, str] = {}
        for name, value in values:
            if len(value) >= MIN_VALUE:
                for form in forms(value):
                    self.names.setdefault(form, name)
        ordered = sorted(self.names, key=len, reverse=True)
        self.pattern = re.compile(b"|".join(map(re.escape, ordered))) if ordered else None
        self.hold = max(map(len, ordered), default=1) - 1
        self.first = frozenset(f[0] for f in ordered)

    def __bool__(self) -> bool:
        return self.pattern is not None

    def scrub(self, data: bytes) -> tuple[bytes, set[str]]:
        """`data` without any value, and the names of the credentials found."""
        if self.pattern is None or not data:
            return data, set()
        found: set[str] = set()

        def sub(m: re.Match[bytes]) -> bytes:
            name = self.names[m.group(0)]
            found.add(name)
            return replacement(name)

        out = self.pattern.sub(sub, data)
        return out, found

    def partial_from(self, data: bytes) -> int:
        """Where a form may begin that `data` ends inside of (len(data) when none may)."""
        start = max(0, len(data) - self.hold)
        for i in range(start, len(data)):
            if data[i] in self.first:
                rest = data[i:]
                if any(f.startswith(rest) for f in self.names):
                    return i
        return len(data)


class StreamScrubber:
    """A response stream's scrubber: each chunk leaves scrubbed, minus a tail that may start a value."""

    def __init__(self, scrubber: Scrubber):
        self.scrubber = scrubber
        self.tail = b""
        self.found: set[str] = set()

    def feed(self, chunk: bytes) -> bytes:
        data = self.tail + chunk if self.tail else chunk
        assert self.scrubber.pattern is not None
        out, pos = [], 0
        for m in self.scrubber.pattern.finditer(data):
            name = self.scrubber.names[m.group(0)]
            self.found.add(name)
            out += [data[pos : m.start()], replacement(name)]
            pos = m.end()
        rest = data[pos:]
        cut = self.scrubber.partial_from(rest)
        self.tail = rest[cut:]
        out.append(rest[:cut])
        return b"".join(out)

    def finish(self) -> bytes:
        tail, self.tail = self.tail, b""
        out, found = self.scrubber.scrub(tail)
        self.found |= found
        return out
