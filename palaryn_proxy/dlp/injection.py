"""Prompt-injection heuristics on content flowing back to a model: visible, hidden and decoded channels, one score.

The text of a page, tool result or document is split into channels (injection_channels.py): the visible text,
hidden ones (HTML comments, CSS-hidden elements, alt/title/aria text, markdown comments, Unicode tag
characters) and decoded ones (base64, hex, percent-encoding, ROT13, spaced-out letters). Each channel is
scored on its own (injection_score.py) with the multilingual concept lexicon (injection_lexicon.py) and the
rules (injection_rules.py); a hidden or decoded channel that carries instructions is itself a signal. The
verdict is the best channel's score combined with global signals (tag characters, words split by
zero-width characters).
"""

from __future__ import annotations

import json
import re
from functools import cache

from .injection_channels import (
    deobfuscate,
    encoded_payloads,
    html_channels,
    looks_like_html,
    markdown_channels,
    reveal_tags,
    split_words,
    tag_payloads,
)
from .injection_lexicon import Lexicon, load_lexicon
from .injection_score import combine, score_channel
from .jsonscan import STRING_RE, unescape

HIDDEN_BONUS = 0.3  # a hidden or decoded channel that scores at least MIN_HIDDEN is a signal of its own
MIN_HIDDEN = 0.25
MIN_GAIN = 0.15  # a de-obfuscated reading counts only if it scores this much above the plain text
SATURATED = 0.95  # a visible score this high needs no look at hidden channels
_SIGNAL_OF = {"encoded": "encoded_instruction", "obfuscated": "obfuscation"}

Verdict = tuple[float, tuple[str, ...]]
_JSON_START = re.compile(r'[{\[]\s{0,20}(?:["{\[\]}]|$)')


@cache
def _lexicon() -> Lexicon:
    """Built once per process (the trie regexes take a fraction of a second to compile)."""
    return load_lexicon()


def _json_strings(text: str) -> str | None:
    """The string values of a JSON document, a paragraph each (keys are schema, not content); None if the
    text does not look like JSON."""
    head = text.lstrip()[:40]
    if not _JSON_START.match(head):
        return None
    return "\n\n".join(unescape(m.group(1))[0] for m in STRING_RE.finditer(text) if not m.group(2))


class InjectionDetector:
    """Scores text for instructions aimed at the model. Score = the best channel's windowed noisy-OR of its
    signals, combined with the global signals; see the module docstring."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or _lexicon()

    def score_text(self, text: str, hidden_channels: list[tuple[str, str]] | None = None) -> Verdict:
        """Score a text (HTML, markdown, plain or JSON) and any hidden channels already extracted from it."""
        hidden = list(hidden_channels or [])
        strings = _json_strings(text)
        if strings is not None:
            text = strings
        if looks_like_html(text):
            text, more = html_channels(text)
            hidden += more
        hidden += markdown_channels(text)
        glob: dict[str, float] = {}
        tags = tag_payloads(text)
        if tags:
            glob["unicode_tags"] = 0.5
            hidden += [("unicode_tags", t) for t in tags]
        revealed = None if tags else reveal_tags(text)  # tags between visible words, no hidden run of its own
        if revealed is not None:
            hidden.append(("unicode_tags", revealed))
        split = split_words(text)
        if split >= 3:  # zero-width characters inside words: text made to slip past filters
            glob["invisible_text"] = 0.3 if split < 10 else 0.4
        score, signals = score_channel(self.lexicon, text)
        best = (score, signals)
        for kind, content in self._extra_channels(text, hidden) if score < SATURATED else ():
            s, sig = score_channel(self.lexicon, content, hidden=True)
            if kind == "obfuscated" and s < score + MIN_GAIN:
                continue  # the spaced-out letters undone say nothing the plain text did not ("right-to-left")
            if s >= MIN_HIDDEN:
                sig = {**sig, _SIGNAL_OF.get(kind, f"hidden_{kind}"): HIDDEN_BONUS}
                s = combine(sig)
            if s > best[0]:
                best = (s, sig)
        signals = {**best[1], **glob}
        total = combine({**best[1], **glob}) if signals else 0.0
        return total, tuple(sorted(signals, key=lambda k: -signals[k]))

    def _extra_channels(self, text: str, hidden: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Hidden channels joined per kind (one scoring pass per kind, not per element), then the decoded
        and de-obfuscated readings of the visible text."""
        by_kind: dict[str, list[str]] = {}
        for kind, content in hidden:
            by_kind.setdefault(kind, []).append(content)
        out = [(kind, "\n\n".join(contents)) for kind, contents in by_kind.items()]
        encoded = encoded_payloads(text)
        if encoded:
            out.append(("encoded", "\n\n".join(encoded)))
        plain = deobfuscate(text.lower())
        if plain is not None:
            out.append(("obfuscated", plain))
        return out

    def score_body(
        self, body: bytes, content_type: str, location: str
    ) -> tuple[float, tuple[str, ...], str] | None:
        text = body.decode("utf-8", "replace")
        ct = content_type.lower()
        if "html" in ct or "xml" in ct:
            visible, hidden = html_channels(text)
            score, signals = self.score_text(visible, hidden)
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


# What a JSON object can start with: `{` after whitespace, or a byte order mark or NUL bytes (json.loads reads
# UTF-16 and UTF-32 too). Anything else is not an LLM request: no search of the whole body for tool keys.
_MAY_BE_OBJECT = re.compile(rb"[ \t\n\r]*+\{|\xef\xbb\xbf|\xff\xfe|\xfe\xff|[\s\S]{0,3}\x00")


def tool_result_texts(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The tool results that arrived since the model's last turn in an LLM request (OpenAI chat and
    Responses, Anthropic Messages, Gemini), as (location, text); older turns were checked already."""
    if not _MAY_BE_OBJECT.match(body) or not any(
        k in body for k in (b'"tool', b"function_call_output", b"functionResponse")
    ):
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
