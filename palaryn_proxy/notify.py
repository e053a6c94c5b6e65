"""JSON webhooks: a blocking POST (run it in a thread) that never goes through a proxy, and an async delivery
that retries what may pass on a second try (no answer, 429, 5xx) with exponential backoff."""

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
ATTEMPTS = 3  # a webhook is tried this often before it counts as failed
BACKOFF_SECONDS = 0.5  # before the second attempt; doubled before each one after


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


def _retryable(exc: Exception) -> bool:
    """Worth another try: no answer (refused, reset, timeout, DNS), or the receiver said 429 or 5xx."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, (OSError, urllib.error.URLError))


async def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF_SECONDS,
    what: str = "webhook",
) -> bool:
    """POST `payload` off the event loop, retrying as `_retryable` says; True once a 2xx came back. A failure
    is one log line naming only the host: webhook URLs often carry their secret in the path (Slack)."""
    for attempt in range(1, attempts + 1):
        try:
            status = await asyncio.to_thread(post, url, payload)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            if attempt < attempts and _retryable(exc):
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
                continue
            detail = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else type(exc).__name__
            log.warning(
                "%s to %s failed after %d attempt(s): %s", what, urlsplit(url).hostname, attempt, detail
            )
            return False
        if 200 <= status < 300:
            return True
        log.warning("%s to %s answered HTTP %s", what, urlsplit(url).hostname, status)
        return False
    return False


async def post_json(url: str, payload: dict[str, Any]) -> bool:
    """POST `payload` off the event loop (with retries); False when it could not be delivered."""
    return await deliver(url, payload)
