"""Human approval of held flows, kept in the shared storage so every replica and the CLI see the same state.

A held request writes `approval:<id>` (JSON) and waits; a person approves or denies it with
`palaryn-proxy approvals ...`; an approval is then remembered as a grant for the same actor, method, URL and
body hash for the rule's `ttl_seconds`, so the agent's retry passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from palaryn_proxy.storage import Storage

PREFIX = "approval:"
GRANT_PREFIX = "approval-grant:"
KEEP_DECIDED_SECONDS = 24 * 3600  # decided approvals stay listable this long


@dataclass(frozen=True, slots=True)
class Approval:
    id: str
    status: str  # pending | approved | denied
    actor: str
    workspace: str
    method: str
    url: str  # masked like the audit log's
    host: str
    body_hash: str
    pack: str | None
    rule: str | None
    reason: str
    created: float
    expires: float  # when the held request stops waiting
    grant_ttl_seconds: float
    decided_by: str | None = None
    decision_reason: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Approval:
        data: dict[str, Any] = json.loads(text)
        fields: dict[str, Any] = {k: data.get(k) for k in cls.__dataclass_fields__}  # missing ones are None
        return cls(**fields)

    def describe(self) -> dict[str, Any]:
        """What a webhook or the CLI shows: no body, no header values, the masked URL."""
        return asdict(self)


def grant_key(actor: str, method: str, url: str, body_hash: str) -> str:
    digest = hashlib.sha256("\n".join((actor, method.upper(), url, body_hash)).encode()).hexdigest()
    return GRANT_PREFIX + digest


def new_id() -> str:
    return "apr_" + secrets.token_hex(8)


class ApprovalBook:
    """Approvals in a Storage; every method may raise StorageError."""

    def __init__(self, storage: Storage, poll_seconds: float = 0.2):
        self.storage = storage
        self.poll_seconds = poll_seconds

    async def granted(self, actor: str, method: str, url: str, body_hash: str) -> bool:
        return await self.storage.get(grant_key(actor, method, url, body_hash)) is not None

    async def open(self, approval: Approval) -> None:
        ttl = max(approval.expires - time.time(), 1) + KEEP_DECIDED_SECONDS
        await self.storage.put(PREFIX + approval.id, approval.to_json(), ttl)

    async def get(self, approval_id: str) -> Approval | None:
        text = await self.storage.get(PREFIX + approval_id)
        return Approval.from_json(text) if text is not None else None

    async def wait(self, approval_id: str, until: float) -> Approval | None:
        """Poll until a person decides or `until` (epoch seconds) passes; the last state seen."""
        while True:
            current = await self.get(approval_id)
            if current is None or current.status != "pending" or time.time() >= until:
                return current
            await asyncio.sleep(min(self.poll_seconds, max(until - time.time(), 0.01)))

    async def decide(self, approval_id: str, approve: bool, by: str, reason: str | None = None) -> Approval:
        current = await self.get(approval_id)
        if current is None:
            raise KeyError(f"no approval {approval_id!r} (unknown or expired)")
        if current.status != "pending":
            raise ValueError(f"approval {approval_id} was already {current.status}")
        decided = replace(
            current, status="approved" if approve else "denied", decided_by=by, decision_reason=reason
        )
        await self.storage.put(PREFIX + approval_id, decided.to_json(), KEEP_DECIDED_SECONDS)
        if approve:
            key = grant_key(current.actor, current.method, current.url, current.body_hash)
            await self.storage.put(key, approval_id, current.grant_ttl_seconds)
        return decided

    async def all(self, status: str | None = None) -> list[Approval]:
        found = []
        for key in await self.storage.keys(PREFIX):
            approval = await self.get(key[len(PREFIX) :])
            if approval is not None and (status is None or approval.status == status):
                found.append(approval)
        return sorted(found, key=lambda a: a.created)
