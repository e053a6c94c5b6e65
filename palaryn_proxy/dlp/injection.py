"""Prompt-injection heuristics on content flowing back to a model: visible and hidden channels, one score."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator

from .blobs import as_text, blob_spans, decode_base64
from .injection_rules import META_CUES, QUOTES, RULES, Rule
from .jsonscan import STRING_RE, unescape
from .normalize import fold

_HIDDEN_STYLE = (
    r"display\s*+:\s*+none|visibility\s*+:\s*+hidden|font-size\s*+:\s*+0(?:px|em|rem|%)?\s*+[;\"']|opacity\s*+:\s*+0\s*+[;\"']"
    r"|color\s*+:\s*+(?:#fff(?:fff)?|white|transparent)\b|(?:left|top)\s*+:\s*+-\d{3,6}px"
)
_HIDDEN_EL = re.compile(
    r"<([a-z][a-z0-9]{0,10})\b[^>]{0,500}?(?:style\s*+=\s*+[\"'][^\"'>]{0,300}?(?:" + _HIDDEN_STYLE + r")"
    r"|\shidden[\s>=]|aria-hidden\s*+=\s*+[\"']true)[^>]{0,500}+>",
    re.I,
)
_ATTR = re.compile(
    r"\s(?:alt|title|aria-label|data-[a-z-]{1,30})\s*+=\s*+(?:\"([^\"]{0,2000})\"|'([^']{0,2000})')", re.I
)
_DROP_TAGS = ("script", "style", "noscript", "template")
_TAG = re.compile(r"<[^<>]{0,2000}>")  # '<' excluded: a failed match stops at the next tag, so linear
_TAG_CHARS = re.compile("[\U000e0020-\U000e007e]{8,}+")
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")
_SELF_REF = re.compile(r"\b(?:my|our)\b|\b(?:i|we) (?:sent|gave|wrote|mentioned|shared|provided|emailed)\b")
_HIDDEN_WEIGHT = 0.3


def _quoted(text: str, start: int) -> bool:
    """The match sits inside a quotation on its line: an odd number of quote marks before it (apostrophes
    inside words, as in "don't", are not quote marks)."""
    line_start = text.rfind("\n", max(0, start - 200), start) + 1
    before = text[max(line_start, start - 200) : start]
    marks = 0
    for i, c in enumerate(before):
        if c in QUOTES and not (
            c == "'" and 0 < i < len(before) - 1 and before[i - 1].isalpha() and before[i + 1].isalpha()
        ):
            marks += 1
    return marks % 2 == 1


_BACK, _AHEAD = 120, 420  # a rule's match lies within this window around one of its anchor words
_MAX_ANCHORS = 256  # beyond this many anchor hits, scanning the whole text is cheaper than windows


def _windows(low: str, anchors: tuple[str, ...]) -> list[tuple[int, int]] | None:
    """Merged windows around the anchor words of a rule ([] if none; None: scan everything)."""
    hits: list[int] = []
    for a in anchors:
        i = low.find(a)
        while i != -1:
            hits.append(i)
            if len(hits) > _MAX_ANCHORS:
                return None
            i = low.find(a, i + 1)
    out: list[tuple[int, int]] = []
    for i in sorted(hits):
        s, e = max(0, i - _BACK), min(len(low), i + _AHEAD)
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _matches(rule: Rule, low: str) -> Iterator[re.Match[str]]:
    windows = _windows(low, rule.anchors)
    if windows is None:
        yield from rule.pattern.finditer(low)
        return
    for s, e in windows:
        yield from rule.pattern.finditer(low, s, e)


def _channel(text: str, hidden: bool, meta: bool, best: dict[str, float]) -> bool:
    """Score one channel into `best`; True if any rule matched. Rules run only near their anchor words."""
    low = fold(text)[0].lower()
    matched = False
    for rule in RULES:
        for n, m in enumerate(_matches(rule, low)):
            w = rule.weight
            if _quoted(low, m.start()):
                w *= 0.35
            if rule.signal == "instruction_override" and _SELF_REF.search(low, m.start(), m.end() + 25):
                w *= 0.3
            if hidden:
                w = min(0.95, w * 1.3)
            elif meta:
                w *= 0.5
            best[rule.signal] = max(best.get(rule.signal, 0.0), w)
            matched = True
            if n >= 20:
                break
    return matched


def _between(text: str, open_: str, close: str, limit: int) -> tuple[list[tuple[int, int]], list[str]]:
    """Spans (open to close, included) and inner texts of `open_ ... close` sections, found with str.find
    (linear: an unclosed section ends the search). `limit` bounds an inner text."""
    spans, inner = [], []
    low = text.lower()
    pos = low.find(open_)
    while pos != -1:
        end = low.find(close, pos + len(open_))
        if end == -1:
            break
        spans.append((pos, end + len(close)))
        inner.append(text[pos + len(open_) : min(end, pos + len(open_) + limit)])
        pos = low.find(open_, end + len(close))
    return spans, inner


def _hidden_elements(text: str) -> list[str]:
    """Inner text of elements hidden by CSS or attributes (bounded to 5000 characters each)."""
    out = []
    low = text.lower()
    last = 0
    for m in _HIDDEN_EL.finditer(text):
        if m.start() < last:  # nested in the previous hidden element: already included
            continue
        end = low.find(f"</{m.group(1).lower()}", m.end(), m.end() + 5000)
        last = end if end != -1 else min(len(text), m.end() + 5000)
        out.append(text[m.end() : last])
    return out


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    parts, pos = [], 0
    for s, e in sorted(spans):
        if s >= pos:
            parts.append(text[pos:s])
            pos = e
    parts.append(text[pos:])
    return " ".join(parts)


def _html_channels(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Visible text and hidden channels (comments, hidden elements, alt/title attributes) of an HTML page."""
    comment_spans, comments = _between(text, "<!--", "-->", 20000)
    hidden: list[tuple[str, str]] = [("html_comment", c) for c in comments]
    low = text.lower()
    if any(k in low for k in ("display", "visibility", "hidden", "font-size", "opacity", "color")):
        hidden += [("hidden_css", inner) for inner in _hidden_elements(text)]
    hidden += [("attribute", m.group(1) or m.group(2) or "") for m in _ATTR.finditer(text)]
    drops = comment_spans
    for tag in _DROP_TAGS:
        drops += _between(text, f"<{tag}", f"</{tag}", 0)[0]
    visible = _TAG.sub(" ", _cut(text, drops))
    return html.unescape(visible), [(k, html.unescape(v)) for k, v in hidden if v.strip()]


def _encoded_channels(text: str) -> list[tuple[str, str]]:
    out = []
    for s, e in blob_spans(text, 24):
        raw = decode_base64(text[s:e])
        decoded = as_text(raw, 0.95) if raw else None
        if decoded:
            out.append(("encoded", decoded))
        if len(out) >= 50:
            break
    return out


def _combine(best: dict[str, float]) -> float:
    remaining = 1.0
    for w in best.values():
        remaining *= 1.0 - w
    return 1.0 - remaining


class InjectionDetector:
    """Scores text for instructions aimed at the model; the score is 1 - prod(1 - w) over the strongest
    match of each signal. Quoted phrases and text about prompt injection are damped; hidden channels
    (HTML comments, hidden elements, alt text, Unicode tag characters, base64) are boosted."""

    def score_text(
        self, text: str, hidden_channels: Iterable[tuple[str, str]] = ()
    ) -> tuple[float, tuple[str, ...]]:
        best: dict[str, float] = {}
        channels = list(hidden_channels)
        tags = _TAG_CHARS.findall(text)
        if tags:
            best["unicode_tags"] = 0.5
            channels += [("unicode_tags", "".join(chr(ord(c) - 0xE0000) for c in t)) for t in tags]
        if len(_ZERO_WIDTH.findall(text[:200000])) >= 20:
            best["invisible_text"] = 0.2
        visible = _ZERO_WIDTH.sub("", text)
        meta = len(set(META_CUES.findall(visible.lower()))) >= 2
        _channel(visible, False, meta, best)
        channels += _encoded_channels(visible)
        by_kind: dict[str, list[str]] = {}
        for name, content in channels:  # one scoring pass per kind of channel, not per element
            by_kind.setdefault(name, []).append(content)
        for name, contents in by_kind.items():
            if _channel("\n".join(contents), True, meta, best):
                best[f"hidden_{name}" if name != "encoded" else "encoded_instruction"] = _HIDDEN_WEIGHT
        return _combine(best), tuple(sorted(best, key=lambda s: -best[s]))

    def score_body(
        self, body: bytes, content_type: str, location: str
    ) -> tuple[float, tuple[str, ...], str] | None:
        text = body.decode("utf-8", "replace")
        ct = content_type.lower()
        head = text.lstrip()[:15].lower()
        if "html" in ct or head.startswith(("<!doctype html", "<html")):
            visible, hidden = _html_channels(text)
            score, signals = self.score_text(visible, hidden)
        elif "json" in ct or head[:1] in ("{", "["):
            strings = (unescape(m.group(1))[0] for m in STRING_RE.finditer(text) if not m.group(2))
            score, signals = self.score_text("\n".join(strings))
        else:
            score, signals = self.score_text(text)
        return (score, signals, location) if signals else None

    def score_texts(
        self, texts: list[tuple[str, str]], max_bytes: int
    ) -> tuple[float, tuple[str, ...], str] | None:
        """The highest-scoring of several (location, text) pairs, e.g. the tool results of a request."""
        best: tuple[float, tuple[str, ...], str] | None = None
        for location, text in texts:
            score, signals = self.score_text(text[:max_bytes])
            if signals and (best is None or score > best[0]):
                best = (score, signals, location)
        return best


def _content_text(content: object) -> str:
    """The text of a tool result: strings as they are, every string leaf of lists and objects."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_content_text(c) for c in content)
    if isinstance(content, dict):
        return "\n".join(_content_text(v) for k, v in content.items() if k not in ("type", "id", "name"))
    return ""


def _after_last(items: list[object], is_model_turn: str) -> range:
    last = -1
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("role") == is_model_turn:
            last = i
    return range(last + 1, len(items))


def _chat_messages(msgs: list[object]) -> list[tuple[str, str]]:
    """OpenAI chat `role: tool` messages and Anthropic `tool_result` blocks after the last assistant turn."""
    out: list[tuple[str, str]] = []
    for i in _after_last(msgs, "assistant"):
        m = msgs[i]
        if not isinstance(m, dict):
            continue
        if m.get("role") in ("tool", "function"):
            out.append((f"request.body:$.messages[{i}].content", _content_text(m.get("content"))))
        elif isinstance(m.get("content"), list):
            for j, block in enumerate(m["content"]):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    loc = f"request.body:$.messages[{i}].content[{j}].content"
                    out.append((loc, _content_text(block.get("content"))))
    return out


def _responses_items(items: list[object]) -> list[tuple[str, str]]:
    """OpenAI Responses `function_call_output` items after the last assistant message."""
    return [
        (f"request.body:$.input[{i}].output", _content_text(it.get("output")))
        for i in _after_last(items, "assistant")
        if isinstance(it := items[i], dict) and it.get("type") == "function_call_output"
    ]


def _gemini_contents(contents: list[object]) -> list[tuple[str, str]]:
    """Gemini `functionResponse` parts after the last model turn."""
    out: list[tuple[str, str]] = []
    for i in _after_last(contents, "model"):
        item = contents[i]
        parts = item.get("parts") if isinstance(item, dict) else None
        for j, part in enumerate(parts if isinstance(parts, list) else []):
            if isinstance(part, dict) and "functionResponse" in part:
                loc = f"request.body:$.contents[{i}].parts[{j}].functionResponse"
                out.append((loc, _content_text(part["functionResponse"])))
    return out


def tool_result_texts(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The tool results that arrived since the model's last turn in an LLM request (OpenAI chat and
    Responses, Anthropic Messages, Gemini), as (location, text); older turns were checked already."""
    if not any(k in body for k in (b'"tool', b"function_call_output", b"functionResponse")):
        return []
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    out: list[tuple[str, str]] = []
    for key, extract in (
        ("messages", _chat_messages),
        ("input", _responses_items),
        ("contents", _gemini_contents),
    ):
        value = doc.get(key)
        if isinstance(value, list):
            out += extract(value)
    return out
