"""Fire-and-forget JSON webhooks, sent from a worker thread so the event loop never waits on them."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("palaryn")
TIMEOUT_SECONDS = 5.0


def _post(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, default=str).encode(),
        method="POST",
        headers={"content-type": "application/json", "user-agent": "palaryn-proxy"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
        return int(response.status)


async def post_json(url: str, payload: dict[str, Any]) -> bool:
    """POST `payload`; False (and one log line without the payload) when the webhook fails."""
    try:
        await asyncio.to_thread(_post, url, payload)
        return True
    except (OSError, urllib.error.URLError, ValueError) as exc:
        log.warning("webhook %s failed: %s", url.split("?", 1)[0], type(exc).__name__)
        return False
