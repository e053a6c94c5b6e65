"""Where an injection can hide in a text: the visible text and the hidden channels (HTML comments, elements
hidden by CSS or attributes, alt/title/aria text, markdown comments and link titles, Unicode tag characters)
and the decoded ones (base64, hex, percent-encoding, ROT13, spaced-out or hyphenated letters).

Every search is bounded: regexes have bounded repetitions and start on a literal or a character class,
sections are found with str.find, and decoding stops after a fixed number of payloads and bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import re
from urllib.parse import unquote

from .injection_unrendered import unrendered_text

_HIDDEN_STYLE = (
    r"display\s*+:\s*+none|visibility\s*+:\s*+hidden|font-size\s*+:\s*+(?:[012](?:\.\d{1,5})?(?:px|pt)|0(?:\.[0-2]\d{0,4})?(?:em|rem)?|[0-9](?:\.\d{1,5})?%)\s*+(?:[;\"'!]|$)"
    r"|opacity\s*+:\s*+0(?:\.0\d{0,5})?\s*+(?:[;\"'!]|$)|(?<![\w-])color\s*+:\s*+(?:#fff(?:fff)?|white|transparent|rgba\([^)]{0,20},\s{0,20}0\))\b"
    r"|(?:left|top|right|text-indent)\s*+:\s*+-\d{3,6}(?:px|em)|clip\s*+:\s*+rect\(\s{0,20}0|height\s*+:\s*+[01]px[^\"']{0,80}overflow"
    r"|line-height\s*+:\s*+0\s*+;[^\"']{0,80}overflow|transform\s*+:\s*+scale\(\s{0,20}0\s{0,20}\)|max-height\s*+:\s*+0"
)
_HIDDEN_STYLE_RE = re.compile(_HIDDEN_STYLE, re.I)
_BACKGROUND = re.compile(
    r"background(?:-color)?\s*+:\s*+(?!#fff(?:fff)?\b|white\b|transparent\b|none\b)[#a-z]", re.I
)
_HIDDEN_CLASS = re.compile(
    r"\b(?:sr-only|visually-hidden|screen-reader-text|d-none|invisible|hidden)\b", re.I
)
# An attribute that may hide its element; the tag around it is found with rfind/find, so the scan is linear.
_HIDING_ATTR = re.compile(
    r"\b(?:style|class)\s*+=\s*+[\"']([^\"'<>]{0,400})"
    r"|\s(?:(?:hidden|aria-hidden\s*+=\s*+[\"']true)(?=[\s>=/\"'])|(?:width|height)\s*+=\s*+[\"']?0[\"'\s>/])"
    r"|<font\b[^<>]{0,200}?color\s*+=\s*+[\"']?(?:#fff(?:fff)?|white)\b",
    re.I,
)
_TAG_NAME = re.compile(r"<([a-z][a-z0-9]{0,10})\b", re.I)
_ATTR = re.compile(
    r"\s(?:alt|title|aria-label|aria-description|placeholder|content|value|data-[a-z-]{1,30})\s*+=\s*+"
    r"(?:\"([^\"<>]{0,2000})\"|'([^'<>]{0,2000})')",
    re.I,
)
_DROP_TAGS = ("script", "style")
_UNRENDERED = ("noscript", "template")
_HTML_TAGS = (
    "a|abbr|address|area|article|aside|audio|b|base|bdi|bdo|big|blockquote|body|br|button|canvas|caption|center|cite"
    "|code|col|colgroup|data|datalist|dd|del|details|dfn|dialog|div|dl|dt|em|embed|fieldset|figcaption|figure|font"
    "|footer|form|g|h[1-6]|head|header|hgroup|hr|html|i|iframe|img|input|ins|kbd|label|legend|li|link|main|map|mark"
    "|menu|meta|meter|nav|nobr|noscript|object|ol|optgroup|option|output|p|param|path|picture|pre|progress|q|rp|rt"
    "|ruby|s|samp|script|search|section|select|slot|small|source|span|strike|strong|style|sub|summary|sup|svg|table"
    "|tbody|td|template|textarea|tfoot|th|thead|time|title|tr|track|tt|u|ul|var|video|wbr|rss|channel|item"
    "|description|pubdate|guid|xml|feed|entry|content|summary"
)
# Known HTML (and feed) tags only: `<system>` or `<|im_start|>` in a page are text the model reads.
# '<' is excluded inside a tag, so a failed match stops at the next tag: linear.
_KNOWN_TAGS = frozenset(_HTML_TAGS.replace("h[1-6]", "h1|h2|h3|h4|h5|h6").split("|"))
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table section article header footer nav main aside blockquote pre"
    " figure figcaption form label button title head body html hr dd dt details summary".split()
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]{0,15})\b[^<>]{0,2000}>|<[!?][^<>]{0,2000}>")
_TAG_CHARS = re.compile("[\U000e0020-\U000e007e]{8,}+")
_ZW_LETTER = "A-Za-z\u00c0-\u024f\u0370-\u06ff\u0750-\u077f\u0900-\u0dff\uac00-\ud7af"
_ZW_IN_WORD = re.compile(f"[{_ZW_LETTER}][\u200b\u2060\ufeff\u180e]++(?=[{_ZW_LETTER}])")
_MD_COMMENT = re.compile(
    r"(?m)^[ \t]{0,3}\[[^\]\n]{0,40}\]:[ \t]*+(?:#|<>)[ \t]*+(?:\(([^\n]{0,2000})\)|\"([^\n]{0,2000})\")"
)
_MD_REF_TITLE = re.compile(
    r"(?m)^[ \t]{0,3}\[[^\]\n]{1,100}\]:[ \t]*+\S{1,500}[ \t]++[\"'(]([^\n]{1,2000})[\"')][ \t]{0,20}$"
)
_MD_IMG_ALT = re.compile(r"!\[([^\]\n]{3,1000})\]\(")
_MD_LINK_TITLE = re.compile(r"\]\([^\s()]{1,500}[ \t]++\"([^\"\n]{1,1000})\"\)")
_B64 = re.compile(r"[A-Za-z0-9+/_-]{24,}+={0,2}")
_HEX = re.compile(r"(?<![0-9a-fA-F])(?:[0-9a-fA-F]{2}){16,}+(?![0-9a-fA-F])|(?:\\x[0-9a-fA-F]{2}){12,}+")
_PCT = re.compile(r"(?:%[0-9a-fA-F]{2}){6,}+")
_ROT13_HINT = re.compile(
    r"rot-?\s?13|vtaber|vafgehp|cerivbhf|flfgrz cebzcg|cnffjbeq|qvfertneq|sbetrg lbhe|eriyny"
)
_SPACED = re.compile(r"(?<![a-z0-9])[a-z](?:[ .\-_*|/]{1,3}[a-z]){4,200}(?![a-z0-9])")
_SEP = re.compile(r"[ .\-_*|/]{1,3}")
_HYPHENATED = re.compile(r"\b[a-z]{1,6}(?:-[a-z]{1,6}){2,8}\b")
MAX_PAYLOADS = 50
MAX_DECODED = 256 * 1024  # decoded bytes per text; one payload at most MAX_PAYLOAD of them
MAX_PAYLOAD = 64 * 1024


def _between(
    text: str, low: str, open_: str, close: str, limit: int
) -> tuple[list[tuple[int, int]], list[str]]:
    """Spans (open to close, included) and inner texts of `open_ ... close` sections, found with str.find
    (linear: an unclosed section ends the search). `limit` bounds an inner text."""
    spans, inner = [], []
    pos = low.find(open_)
    while pos != -1:
        end = low.find(close, pos + len(open_))
        if end == -1:
            break
        spans.append((pos, end + len(close)))
        inner.append(text[pos + len(open_) : min(end, pos + len(open_) + limit)])
        pos = low.find(open_, end + len(close))
    return spans, inner


def _hidden_style(value: str, backgrounds: frozenset[str] = frozenset()) -> bool:
    """A style that hides its element; white text on a coloured background is plain to see, text in the
    page's own background colour is not."""
    ways = [m.group()[:5].lower() for m in _HIDDEN_STYLE_RE.finditer(value)]
    if any(w != "color" for w in ways) or (bool(ways) and _BACKGROUND.search(value) is None):
        return True
    colour = _COLOUR.search(value) if backgrounds else None
    return colour is not None and colour.group(1).lower() in backgrounds and _BACKGROUND.search(value) is None


_COLOUR = re.compile(r"(?<![\w-])color\s*+:\s*+(#[0-9a-f]{3,8}|[a-z]{3,20})\b", re.I)
_BACKGROUND_OF = re.compile(r"background(?:-color)?\s*+:\s*+(#[0-9a-f]{3,8}|[a-z]{3,20})\b", re.I)


def _hidden_elements(text: str, low: str) -> list[str]:
    """Inner text of elements hidden by CSS, classes or attributes (bounded to 5000 characters each)."""
    out = []
    last = 0
    backgrounds = (
        frozenset(m.group(1).lower() for _, m in zip(range(50), _BACKGROUND_OF.finditer(text), strict=False))
        if "background" in low
        else frozenset()
    )
    for m in _HIDING_ATTR.finditer(text):
        value = m.group(1)
        if value is not None:
            is_style = low[m.start() : m.start() + 5] == "style"
            if not (_hidden_style(value, backgrounds) if is_style else _HIDDEN_CLASS.search(value)):
                continue
        start = low.rfind("<", max(0, m.start() - 600), m.start() + 1)
        close = low.find(">", m.end(), m.end() + 600)
        tag = _TAG_NAME.match(text, start) if start != -1 else None
        if tag is None or close == -1 or start < last:
            continue  # not inside a tag, or nested in the previous hidden element: already included
        end = low.find(f"</{tag.group(1).lower()}", close, close + 5000)
        last = end if end != -1 else min(len(text), close + 5000)
        out.append(text[close + 1 : last])
        if len(out) >= 500:
            break
    return out


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    parts, pos = [], 0
    for s, e in sorted(spans):
        if s >= pos:
            parts.append(text[pos:s])
            pos = e
    parts.append(text[pos:])
    return " ".join(parts)


def _tag(m: re.Match[str]) -> str:
    name = (m.group(2) or "").lower()
    if m.group(2) is None:
        return " "
    if name not in _KNOWN_TAGS:
        return m.group()  # `<system>` is text the model reads, not markup
    return "\n\n" if name in _BLOCK_TAGS else " "


def _strip_tags(text: str) -> str:
    return html.unescape(_TAG.sub(_tag, text)) if "<" in text else html.unescape(text)


def html_channels(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Visible text and hidden channels (comments, hidden and unrendered elements, attributes) of HTML."""
    low = text.lower()
    comment_spans, comments = _between(text, low, "<!--", "-->", 20000)
    hidden: list[tuple[str, str]] = [("html_comment", c) for c in comments]
    if any(k in low for k in ("display", "visibility", "hidden", "font-size", "opacity", "color", "left", "top",
                              "indent", "clip", "height", "scale", "invisible", "sr-only", "d-none")):  # fmt: skip
        hidden += [("hidden_css", _strip_tags(inner)) for inner in _hidden_elements(text, low)]
    hidden += [("attribute", m.group(1) or m.group(2) or "") for m in _ATTR.finditer(text)]
    hidden += unrendered_text(text, low)
    drops = list(comment_spans)
    for tag in _DROP_TAGS:
        drops += _between(text, low, f"<{tag}", f"</{tag}", 0)[0]
    for tag in _UNRENDERED:
        spans, inner = _between(text, low, f"<{tag}", f"</{tag}", 20000)
        drops += spans
        hidden += [("hidden_css", _strip_tags(i.partition(">")[2])) for i in inner]
    visible = _strip_tags(_cut(text, drops))
    return visible, [(k, html.unescape(v)) for k, v in hidden if v.strip()]


def markdown_channels(text: str) -> list[tuple[str, str]]:
    """Markdown that does not render: `[//]: # (comments)`, reference and link titles, image alt text, and
    HTML comments."""
    out: list[tuple[str, str]] = []
    if "]:" in text:
        out += [("markdown_comment", m.group(1) or m.group(2) or "") for m in _MD_COMMENT.finditer(text)]
        out += [("markdown_comment", m.group(1)) for m in _MD_REF_TITLE.finditer(text)]
    if "![" in text:
        out += [("attribute", m.group(1)) for m in _MD_IMG_ALT.finditer(text)]
    if '"' in text and "](" in text:
        out += [("attribute", m.group(1)) for m in _MD_LINK_TITLE.finditer(text)]
    if "<!--" in text:
        out += [("html_comment", c) for c in _between(text, text, "<!--", "-->", 20000)[1]]
    return [(k, v) for k, v in out if v.strip()]


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body", "<div", "<p>", "<rss")):
        return True
    return "</" in text and _CLOSING.search(text[:100_000]) is not None


_CLOSING = re.compile(r"</(?:" + _HTML_TAGS + r")>", re.I)


_TAG_ANY = re.compile("[\U000e0020-\U000e007e]")
_TAG_TABLE = {c: c - 0xE0000 for c in range(0xE0020, 0xE007F)}


def reveal_tags(text: str) -> str | None:
    """The text with its Unicode tag characters read as the ASCII they stand for (spaces and punctuation
    hidden between visible words of a script that has no tag form); None if there are none."""
    if _TAG_ANY.search(text) is None:
        return None
    return text.translate(_TAG_TABLE)


def tag_payloads(text: str) -> list[str]:
    """ASCII hidden in Unicode tag characters (U+E0020..E007E), runs of at least 8."""
    return ["".join(chr(ord(c) - 0xE0000) for c in t) for t in _TAG_CHARS.findall(text)][:MAX_PAYLOADS]


def split_words(text: str) -> int:
    """Zero-width characters splitting Latin words ("ig\u200bnore"): their count, up to 100."""
    n = 0
    for _ in _ZW_IN_WORD.finditer(text[:200_000]):
        n += 1
        if n >= 100:
            break
    return n


def _printable(raw: bytes, ratio: float = 0.9) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    sample = text[:4096]
    if len(text) < 8 or " " not in sample:
        return None
    good = sum(1 for c in sample if c.isprintable() or c in "\t\r\n")
    letters = sum(1 for c in sample if c.isalpha())
    return text if good >= ratio * len(sample) and letters >= 0.5 * len(sample) else None


def _shape_table(members: str) -> bytes:
    return bytes(ord("x") if chr(b) in members else ord(".") for b in range(256))


_B64_SHAPE = _shape_table("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_HEX_SHAPE = _shape_table("0123456789abcdefABCDEF\\x")
_ROT13_WORDS = (
    "rot13",
    "rot-13",
    "rot 13",
    "vtaber",
    "vafgehp",
    "cerivbhf",
    "cnffjbeq",
    "qvfertneq",
    "eriyny",
)


def encoded_payloads(text: str) -> list[str]:
    """Text hidden in base64, hex or percent-encoding runs, and the ROT13 reading of the text when it looks
    ROT13-encoded; bounded by MAX_PAYLOADS and MAX_DECODED. A byte-class shape of the text rules each kind
    out first, at memchr speed."""
    out: list[str] = []
    raw = text.encode("utf-8", "surrogatepass")
    kinds = []
    if b"x" * 24 in raw.translate(_B64_SHAPE):
        kinds.append((_B64, _b64))
    if b"x" * 24 in raw.translate(_HEX_SHAPE):
        kinds.append((_HEX, _hex))
    if b"%" in raw and _PCT.search(text):
        kinds.append((_PCT, _pct))
    budget = MAX_DECODED
    for regex, decode in kinds:
        for m in regex.finditer(text):
            if budget <= 0 or len(out) >= MAX_PAYLOADS:
                return out
            data = decode(m.group()[: MAX_PAYLOAD * 2])
            decoded = _printable(data) if data else None
            if decoded:
                out.append(decoded)
                budget -= len(data or b"")
    low = text.lower()
    if any(w in low for w in _ROT13_WORDS):
        out.append(codecs.encode(text[:MAX_DECODED], "rot13"))
    return out


def _b64(blob: str) -> bytes | None:
    body = blob.rstrip("=")
    if ("-" in body or "_" in body) and ("+" in body or "/" in body):
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        return base64.urlsafe_b64decode(padded) if "-" in body or "_" in body else base64.b64decode(padded)
    except (binascii.Error, ValueError):
        return None


def _hex(blob: str) -> bytes | None:
    try:
        return bytes.fromhex(blob.replace("\\x", ""))
    except ValueError:
        return None


def _pct(blob: str) -> bytes | None:
    return unquote(blob).encode("utf-8", "surrogatepass")


_SPACING_SHAPE = bytes(
    ord("a") if chr(b).isalpha() and b < 128 else ord("-") if chr(b) in " .-_*|/" else ord(".")
    for b in range(256)
)


def _glue(m: re.Match[str]) -> str:
    parts = _split_keep(m.group())
    seps = parts[1::2]
    common = max(set(seps), key=seps.count)
    return "".join(p if i % 2 == 0 else ("" if p == common else " ") for i, p in enumerate(parts))


def deobfuscate(low: str, context: int = 160, budget: int = 64 * 1024) -> str | None:
    """The passages of `low` (normalised text) holding spaced-out letters ("i g n o r e  a l l" ->
    "ignore all", "i.g.n.o.r.e" -> "ignore") or syllable hyphens ("pre-vi-ous" -> "previous"), undone,
    with `context` characters around; None if there are none. At most `budget` characters in all."""
    shape = low.encode("utf-8", "surrogatepass").translate(_SPACING_SHAPE)
    spaced = b"-a-a-a-a-" in shape
    hyphens = b"a-a" in shape and "-" in low
    if not spaced and not hyphens:
        return None
    spans: list[tuple[int, int]] = []
    if spaced:
        spans += [m.span() for _, m in zip(range(500), _SPACED.finditer(low), strict=False)]
    if hyphens:
        at = low.find("-")
        for _ in range(2000):
            if at == -1:
                break
            m = _HYPHENATED.match(low, low.rfind(" ", max(0, at - 40), at) + 1)
            if m and m.start() <= at < m.end():
                spans.append(m.span())
                at = m.end()
            at = low.find("-", at + 1)
    if not spans:
        return None
    windows: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        lo, hi = max(0, s - context), min(len(low), e + context)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
    out, used = [], 0
    for lo, hi in windows:
        if used >= budget:
            break
        passage = _HYPHENATED.sub(lambda m: m.group().replace("-", ""), _SPACED.sub(_glue, low[lo:hi]))
        out.append(passage)
        used += hi - lo
    return "\n\n".join(out)


def _split_keep(run: str) -> list[str]:
    """A spaced-out run as [letter, separator, letter, ...]."""
    parts: list[str] = []
    pos = 0
    for m in _SEP.finditer(run):
        parts += [run[pos : m.start()], m.group()]
        pos = m.end()
    parts.append(run[pos:])
    return parts
