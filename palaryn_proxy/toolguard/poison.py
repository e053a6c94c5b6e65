"""Poisoned tool descriptions: instructions aimed at the model (the injection detector) or hidden characters
(zero-width, bidirectional controls, Unicode tags) in a tool's description or its schema's descriptions."""

from __future__ import annotations

import re
from typing import Any

from palaryn_proxy.dlp.injection import InjectionDetector

_HIDDEN = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
MAX_TEXT = 64 * 1024


def description_texts(tool: dict[str, Any]) -> list[str]:
    """The tool's description, title, and every description/title string inside its input schema."""
    texts: list[str] = []
    for key in ("description", "title"):
        if isinstance(tool.get(key), str):
            texts.append(tool[key])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("description", "title") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tool.get("inputSchema"))
    return texts


class PoisonScanner:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._detector: InjectionDetector | None = None  # the lexicon loads on first use

    def scan(self, tool: dict[str, Any]) -> str | None:
        """Why the tool looks poisoned, or None."""
        texts = description_texts(tool)
        hidden = sorted({f"U+{ord(c):04X}" for t in texts for c in _HIDDEN.findall(t)})
        if hidden:
            return f"hidden characters in its description ({', '.join(hidden[:5])})"
        if self._detector is None:
            self._detector = InjectionDetector()
        score, signals = self._detector.score_text("\n\n".join(texts)[:MAX_TEXT])
        if score >= self.threshold:
            return f"instructions in its description (score {score:.2f}: {', '.join(signals[:4])})"
        return None
