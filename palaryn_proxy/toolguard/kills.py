"""The kill switch: scopes (an actor, a workspace, everything) refused at once, kept in the shared storage so
every replica polls the same set; a kill may expire (`--for 1h`)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from palaryn_proxy.storage import Storage

PREFIX = "kill:"
SCOPES = ("actor", "workspace", "all")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int | float | None) -> float | None:
    """`90`, `90s`, `15m`, `1h`, `2d` in seconds; None for none."""
    if text is None or text == "":
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = _DURATION.match(str(text))
        if m is None:
            raise ValueError(f"duration {text!r}: use seconds or a number with s, m, h or d (e.g. 1h)")
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {text!r}: must be positive")
    return seconds


@dataclass(frozen=True, slots=True)
class Kill:
    scope: str  # actor | workspace | all
    target: str  # the actor or workspace name; "*" for all
    reason: str
    by: str
    created: float
    until: float | None = None

    @property
    def key(self) -> str:
        return kill_key(self.scope, self.target)

    def covers(self, actor: str, workspace: str) -> bool:
        if self.until is not None and time.time() >= self.until:
            return False
        if self.scope == "all":
            return True
        return (actor if self.scope == "actor" else workspace) == self.target

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> str:
        what = "every agent" if self.scope == "all" else f"{self.scope} {self.target!r}"
        why = f": {self.reason}" if self.reason else ""
        return f"killed: {what} was stopped by {self.by}{why}"


def kill_key(scope: str, target: str) -> str:
    return f"{PREFIX}{scope}:{target}"


def scope_of(actor: str | None, workspace: str | None, everything: bool) -> tuple[str, str]:
    """Exactly one of the three, as (scope, target); ValueError naming the problem otherwise."""
    given = [(s, t) for s, t in (("actor", actor), ("workspace", workspace)) if t] + (
        [("all", "*")] if everything else []
    )
    if len(given) != 1:
        raise ValueError("name exactly one of actor, workspace or all")
    return given[0]


class KillBook:
    """Kills in a Storage; every method may raise StorageError."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def kill(self, scope: str, target: str, reason: str, by: str, seconds: float | None) -> Kill:
        now = time.time()
        entry = Kill(scope, target, reason, by, now, now + seconds if seconds else None)
        await self.storage.put(entry.key, json.dumps(entry.describe()), seconds)
        return entry

    async def unkill(self, scope: str, target: str) -> bool:
        return await self.storage.delete(kill_key(scope, target))

    async def all(self) -> list[Kill]:
        found = []
        for key in await self.storage.keys(PREFIX):
            text = await self.storage.get(key)
            if text is not None:
                found.append(Kill(**json.loads(text)))
        return sorted(found, key=lambda k: k.created)


def covering(kills: list[Kill], actor: str, workspace: str) -> Kill | None:
    return next((k for k in kills if k.covers(actor, workspace)), None)
