"""Pinned MCP tools in the shared storage: the first tools/list answer of a server fixes each tool's name,
description and input schema (hash plus text); later versions wait as `pending` until a person accepts them."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from palaryn_proxy.storage import Storage

PREFIX = "mcp-pin:"
SERVER_MARK = "mcp-server:"  # set once a server's first answer is pinned: later new tools are "added"


@dataclass(frozen=True, slots=True)
class ToolVersion:
    hash: str
    description: str
    schema: str  # the input schema as canonical JSON

    @classmethod
    def of(cls, tool: dict[str, Any]) -> ToolVersion:
        raw = tool.get("description")
        description = raw if isinstance(raw, str) else ""
        schema = json.dumps(tool.get("inputSchema"), sort_keys=True, separators=(",", ":"))
        canonical = json.dumps([tool.get("name"), description, schema], separators=(",", ":"))
        return cls(hashlib.sha256(canonical.encode()).hexdigest(), description, schema)


@dataclass(frozen=True, slots=True)
class Pin:
    server: str  # host + path, e.g. mcp.example.com/mcp
    name: str
    pinned: ToolVersion | None  # None: a tool that appeared after the first answer, never accepted
    pending: ToolVersion | None = None  # a changed or new version nobody accepted yet
    pinned_at: float = 0.0
    seen_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Pin:
        data = json.loads(text)
        for key in ("pinned", "pending"):
            data[key] = ToolVersion(**data[key]) if data.get(key) else None
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Change:
    """What one tool of an answer is against its pin: pinned (first answer), same, changed or added."""

    name: str
    status: str
    version: ToolVersion


def pin_key(server: str, name: str) -> str:
    return f"{PREFIX}{server}|{name}"


def compare(server: str, first: bool, pins: dict[str, Pin], tools: list[dict[str, Any]]) -> tuple[
    list[Change], list[Pin]
]:  # fmt: skip
    """Pure: each tool's status, and the pins to write (first answers pinned, new versions kept pending)."""
    now = time.time()
    changes: list[Change] = []
    writes: list[Pin] = []
    for tool in tools:
        name = tool.get("name")
        if not isinstance(name, str):
            continue
        version = ToolVersion.of(tool)
        pin = pins.get(name)
        if pin is None and first:
            changes.append(Change(name, "pinned", version))
            writes.append(Pin(server, name, version, None, now, now))
        elif pin is not None and pin.pinned is not None and pin.pinned.hash == version.hash:
            changes.append(Change(name, "same", version))
        else:
            status = "changed" if pin is not None and pin.pinned is not None else "added"
            changes.append(Change(name, status, version))
            if pin is None or pin.pending is None or pin.pending.hash != version.hash:
                base = pin or Pin(server, name, None)
                writes.append(replace(base, pending=version, seen_at=now))
    return changes, writes


class PinBook:
    """Pins in a Storage; every method may raise StorageError."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def load(self, server: str) -> tuple[bool, dict[str, Pin]]:
        """Whether the server's first answer is still to come, and its pins by tool name."""
        first = await self.storage.get(SERVER_MARK + server) is None
        pins = {}
        for key in await self.storage.keys(f"{PREFIX}{server}|"):
            text = await self.storage.get(key)
            if text is not None:
                pin = Pin.from_json(text)
                pins[pin.name] = pin
        return first, pins

    async def save(self, server: str, writes: list[Pin]) -> None:
        for pin in writes:
            await self.storage.put(pin_key(server, pin.name), pin.to_json())
        await self.storage.put(SERVER_MARK + server, "1", only_if_absent=True)

    async def resolve(self, server: str) -> str:
        """The pinned server a person means: `host/path` as listed, a URL (`https://host/path`), or a bare
        host when only one of its paths is pinned."""
        given = server.split("://", 1)[-1].rstrip("/")
        known = {key[len(PREFIX) :].split("|", 1)[0] for key in await self.storage.keys(PREFIX)}
        if server in known or given in known:
            return server if server in known else given
        by_host = sorted(k for k in known if k.split("/", 1)[0] == given or k.rstrip("/") == given)
        return by_host[0] if len(by_host) == 1 else server

    async def all(self, server: str | None = None) -> list[Pin]:
        if server is not None:
            server = await self.resolve(server)
        pins = []
        for key in await self.storage.keys(PREFIX if server is None else f"{PREFIX}{server}|"):
            text = await self.storage.get(key)
            if text is not None:
                pins.append(Pin.from_json(text))
        return sorted(pins, key=lambda p: (p.server, p.name))

    async def accept(self, server: str, name: str) -> Pin:
        server = await self.resolve(server)
        text = await self.storage.get(pin_key(server, name))
        if text is None:
            raise KeyError(f"no pinned tool {name!r} on server {server!r}")
        pin = Pin.from_json(text)
        if pin.pending is None:
            raise ValueError(f"tool {name!r} on {server!r} has no new version to accept")
        accepted = replace(pin, pinned=pin.pending, pending=None, pinned_at=time.time())
        await self.storage.put(pin_key(server, name), accepted.to_json())
        return accepted
