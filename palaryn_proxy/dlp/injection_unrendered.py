"""Text a model may read in a document but a reader of the rendered page never sees: JSON-LD structured
data, CSS generated content and Word runs marked hidden; each found with bounded regexes and str.find."""

from __future__ import annotations

import re

from .jsonscan import STRING_RE, unescape

_CSS_CONTENT = re.compile(r"\bcontent\s*+:\s*+(?:\"([^\"<>]{8,2000})\"|'([^'<>]{8,2000})')", re.I)
_JSON_LD = re.compile(r"<script\b[^<>]{0,200}application/ld\+json[^<>]{0,200}>", re.I)
_VANISHED = re.compile(
    r"<w:vanish\s{0,5}/>(?:[^<]{0,200}<(?!/w:r>)[^<>]{0,200}>){0,20}?[^<]{0,200}<w:t\b[^<>]{0,200}>([^<]{1,5000})<"
)


def unrendered_text(text: str, low: str) -> list[tuple[str, str]]:
    """Text a model may read but a reader never sees: JSON-LD structured data, CSS generated content
    (`::after { content: "..." }`), and Word runs marked `<w:vanish/>`."""
    out: list[tuple[str, str]] = []
    if "ld+json" in low:
        for m in _JSON_LD.finditer(text):
            end = low.find("</script", m.end(), m.end() + 20000)
            block = text[m.end() : end if end != -1 else m.end() + 20000]
            out += [
                ("structured_data", unescape(g.group(1))[0])
                for g in STRING_RE.finditer(block)
                if not g.group(2)
            ]
    if "content" in low and "<style" in low:
        for _, m in zip(range(50), re.finditer("<style", low), strict=False):
            start = m.start()
            end = low.find("</style", start, start + 50000)
            css = text[start : end if end != -1 else start + 50000]
            out += [("hidden_css", c.group(1) or c.group(2)) for c in _CSS_CONTENT.finditer(css)]
    if "<w:vanish" in low:
        out += [
            ("hidden_css", m.group(1)) for _, m in zip(range(200), _VANISHED.finditer(text), strict=False)
        ]
    return out
