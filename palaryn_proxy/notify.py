"""JSON webhooks: a blocking POST (run it in a thread) that never goes through a proxy, and an async
fire-and-forget wrapper."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("palaryn")
TIMEOUT_SECONDS = 5.0
USER_AGENT = "palaryn-proxy webhook"


def post(url: str, payload: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST `payload` as JSON and return the HTTP status. Blocking: call it from a worker thread.

    Proxy variables are ignored on purpose: the proxy's own environment may point at the proxy itself.
    """
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        return int(response.status)


async def post_json(url: str, payload: dict[str, Any]) -> bool:
    """POST `payload` off the event loop; False (and one log line without the payload) when it fails."""
    try:
        status = await asyncio.to_thread(post, url, payload)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        # Only the host: webhook URLs often carry their secret in the path (Slack, Discord).
        log.warning("webhook to %s failed: %s", urlsplit(url).hostname, type(exc).__name__)
        return False
    return 200 <= status < 300
