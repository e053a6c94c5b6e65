"""Tool results that come back as SSE events (streamable HTTP) scored for prompt injection, event by event."""

from __future__ import annotations

from typing import Any

from palaryn_proxy.dlp.injection import InjectionDetector
from palaryn_proxy.types import Reason

MAX_TEXT = 256 * 1024


def result_text(message: Any) -> str:
    """The text a tools/call result hands the model: its text content blocks and structured content."""
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict):
        return ""
    parts = [
        block["text"]
        for block in result.get("content") or []
        if isinstance(block, dict) and isinstance(block.get("text"), str)
    ]
    return "\n\n".join(parts)[:MAX_TEXT]


class ResultScanner:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._detector: InjectionDetector | None = None

    def scan(self, message: Any, ids: frozenset[Any]) -> Reason | None:
        """A reason (stage `mcp`, rule `mcp_result_injection`) when a result to one of `ids` carries one."""
        if not isinstance(message, dict) or message.get("id") not in ids:
            return None
        text = result_text(message)
        if not text:
            return None
        if self._detector is None:
            self._detector = InjectionDetector()
        score, signals = self._detector.score_text(text)
        if score < self.threshold:
            return None
        return Reason(
            "mcp",
            "mcp_result_injection",
            f"tool result {message.get('id')!r} carries instructions (score {score:.2f}: {', '.join(signals[:4])})",
        )
