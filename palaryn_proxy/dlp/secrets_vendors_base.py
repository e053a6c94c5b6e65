"""The three shapes of a vendor credential, shared by the secrets_vendors_* modules.

- `token`: a value that starts with the vendor's own literal prefix (`dop_v1_`, `glsa_`): anchored on it.
- `suffixed`: a value recognised by a literal inside or at its end (`-us12`, `.atlasv1.`, `NRAL`): found
  by that literal, read backwards over the token characters before it (bounded), then matched whole.
- `named`: a bare value (hex, UUID, base62) trusted only after the vendor's name and a key word
  (`OKTA_API_TOKEN=00...`), like gitleaks' prefix-less vendor rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .detector import B_END, SECRETS, Detector, Span, assignment, rx
from .validators import is_placeholder, shannon_entropy

TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
HEX = "[0-9a-fA-F]"
UUID = rf"{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}"
LOWER_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # for `named` (lower-cased text)
# Between the vendor's name and the key word: `_API_`, `.`, `:\n  `, `": {"`.
GAP = r"[\w.:\s\"'{-]{0,24}?"
KEY_WORDS = r"key|token|secret"
# Above the other named values (70: AWS secret keys, Datadog): `YC_SECRET_KEY=` names Yandex's AWS-style key.
NAMED_PRIORITY = 72
# detector.TOKEN_BEFORE with `\Z` for `$`: searched in the two characters before a prefix, `$` also matches
# before a final line break, so `x\n` counted as glued and a token at the start of a line after a word was
# missed. (Same test otherwise: a token character just before, unless it ends a literal `\n` escape.)
TOKEN_BEFORE = rx(r"[A-Za-z0-9_-]\Z(?<!\\[nrt])")


def token(
    type_: str,
    pattern: str,
    anchors: tuple[str, ...],
    *,
    entropy: float = 3.0,
    skip: int | None = None,
    keywords: tuple[str, ...] | None = None,
    validate: Callable[[str], bool] | None = None,
    placeholder_check: bool = True,
    priority: int = 90,
) -> Detector:
    """A token that starts with one of `anchors` (also its prefilter keywords unless `keywords` are given:
    every match must contain one of them). The entropy test skips the prefix (`skip`: its length)."""
    skip = min(len(a) for a in anchors) if skip is None else skip
    return Detector(
        type=type_,
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"({pattern}){B_END}"),
        keywords=keywords or anchors,
        anchors=anchors,
        value_group=1,
        validate=validate,
        placeholder_check=placeholder_check,
        min_entropy=entropy,
        entropy_skip=skip,
        priority=priority,
        preview=min(4, skip),
    )


_RUN_BEFORE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")  # searched up to a literal: the token run before it
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def _suffixed_finder(
    literal: str, longest_head: int, full: re.Pattern[str]
) -> Callable[[str], Iterator[Span]]:
    assert longest_head < 64

    def find(text: str) -> Iterator[Span]:
        pos = text.find(literal)
        while pos != -1:
            lo = max(0, pos - longest_head - 1)
            run = _RUN_BEFORE.search(text, lo, pos)
            s = run.start() if run is not None else pos
            if pos - s > longest_head:  # glued to a longer token, and so is every literal up to its end
                end = _NOT_TOKEN.search(text, pos)
                pos = text.find(literal, max(pos + 1, end.start() if end is not None else len(text)))
                continue
            m = full.match(text, s)
            if m is not None and m.end() > pos:
                yield s, m.end(), m.group(1)
                pos = text.find(literal, m.end())
            else:
                pos = text.find(literal, pos + 1)

    return find


def suffixed(
    type_: str,
    pattern: str,
    literal: str,
    longest_head: int,
    *,
    entropy: float = 3.0,
    validate: Callable[[str], bool] | None = None,
    priority: int = 80,
) -> Detector:
    """A token found by `literal` inside or at its end: the token characters before it (at most
    `longest_head`, a longer run is glued to something else) start the candidate, matched by `pattern`."""
    full = rx(rf"({pattern}){B_END}")
    return Detector(
        type=type_,
        group=SECRETS,
        pattern=full,
        finder=_suffixed_finder(literal, longest_head, full),
        keywords=(literal,),
        validate=validate,
        min_entropy=entropy,
        priority=priority,
    )


def word_start(text: str, m: re.Match[str]) -> bool:
    return m.start() == 0 or not text[m.start() - 1].isalnum()


def named(
    type_: str,
    vendor: str,
    value: str,
    starts: tuple[str, ...],
    *,
    words: str = KEY_WORDS,
    context: str | None = None,
    ikeywords: tuple[str, ...] | None = None,
    entropy: float = 3.0,
    validate: Callable[[str], bool] | None = None,
    placeholder_check: bool = True,
) -> tuple[Detector, Detector]:
    """A bare `value` assigned to a name made of the vendor's name (`vendor`, whose matches start with one
    of `starts`), a short gap and a key word: `OKTA_API_TOKEN=`, `"cohere": {"api_key": `, `sumo.access_key:`.
    Patterns run on the lower-cased text, so `value` is written in lower case. `context` replaces the
    vendor-and-key-word part; `ikeywords` (default: `starts`) must occur in every match.

    Two detectors: one reads the assignment in text, the other a JSON / form / query value whose field
    name is such a name (`{"okta_api_token": "00..."}`: the name and the value are separate strings)."""
    lead = None if context else vendor  # every match starts with the vendor's name (no other context given)
    context = context or rf"(?:{vendor}){GAP}(?:{words})"
    in_text = Detector(
        type=type_,
        group=SECRETS,
        pattern=rx(assignment(context, value)),
        starts=starts,
        lower=True,
        match_filter=word_start,
        ikeywords=ikeywords or starts,
        value_group=1,
        validate=validate,
        placeholder_check=placeholder_check,
        min_entropy=entropy,
        priority=NAMED_PRIORITY,
        lead=lead,
    )
    by_field = Detector(
        type=type_,
        group=SECRETS,
        pattern=rx(rf"^\s{{0,4}}({value})\s{{0,4}}$"),
        key=re.compile(rf"^[a-z0-9_.-]{{0,40}}(?:{context})[a-z0-9_.-]{{0,24}}$", re.IGNORECASE),
        lower=True,
        value_group=1,
        validate=validate,
        placeholder_check=placeholder_check,
        min_entropy=entropy,
        priority=NAMED_PRIORITY,
    )
    return in_text, by_field


# -- validators ----------------------------------------------------------------------------------------------

_HEX_CHARS = frozenset("0123456789abcdefABCDEF")
_RUN_OF_A = re.compile(r"A{8,64}")


def not_all_hex(value: str) -> bool:
    """A base62 secret, not a hex digest that happens to start with the prefix."""
    return not _HEX_CHARS.issuperset(value)


def two_classes(value: str) -> bool:
    """Two of lower-case letters, capitals and digits: a random base62 body, not a word or a name."""
    return (
        any(c.islower() for c in value) + any(c.isupper() for c in value) + any(c.isdigit() for c in value)
    ) >= 2


def letters_and_digits(value: str) -> bool:
    """At least two digits and two letters: a random base36 body, not a word in capitals."""
    return sum(c.isdigit() for c in value) >= 2 and sum(c.isalpha() for c in value) >= 2


def random_tail_after_runs(skip: int, minimum: float) -> Callable[[str], bool]:
    """For formats with fixed runs of `A` (Twitter bearer tokens, Dropbox long-lived tokens): the rest,
    runs of A taken out, is not a placeholder and has `minimum` bits of entropy per character."""

    def ok(value: str) -> bool:
        rest = _RUN_OF_A.sub("A", value[skip:])
        return not is_placeholder(rest) and shannon_entropy(rest) >= minimum

    return ok
