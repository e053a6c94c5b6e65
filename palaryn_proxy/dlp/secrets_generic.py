"""Credentials without a vendor format: URLs with a password, `password=` / `api_key:` assignments, bearer headers."""

from __future__ import annotations

import re
from collections.abc import Callable

from .detector import SECRETS, Detector, rx
from .validators import generic_value_ok, url_password_ok

_PASSWORD_NAMES = r"pass(?:word|wd|phrase)?|pwd"
_SECRET_NAMES = (
    r"secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token"
    r"|client[_-]?secret|private[_-]?key|token|credentials?"
)
_SECRET_WORDS = r"secret|key|token|credentials?"  # the last word of every name above: the regex anchor
_NAME_END = {
    _PASSWORD_NAMES: re.compile(rf"(?:{_PASSWORD_NAMES})$", re.IGNORECASE),
    _SECRET_WORDS: re.compile(rf"(?:{_SECRET_NAMES})$", re.IGNORECASE),
}
# Words in a field name that mean the value is not a secret (pagination cursors, limits, file paths...).
_NOT_SECRET_WORDS = frozenset(
    "page cursor continuation sync max min num count limit total usage budget length size type kind name format"
    " prefix id url uri path file endpoint field header expires expiry expiration ttl hint label policy mode hash"
    " placeholder param template".split()
)
_WORD_RE = re.compile(r"[A-Z]?[a-z]{1,40}|[A-Z]{1,40}(?![a-z])|\d{1,40}")


def name_ok(name: str) -> bool:
    """`next_page_token`, `max_tokens`, `password_file` name no secret; `db_password`, `API_KEY` do."""
    return not any(w.lower() in _NOT_SECRET_WORDS for w in _WORD_RE.findall(name[:100]))


# Run on lower-cased text: the regex anchors on the secret word (cheap to search); _key_ok then reads the
# whole name backwards in the original text.
_ASSIGN = (
    r"(?P<kw>{names})(?:\\?[\"'])?\s{{0,3}}(?::=|=>|=|:)\s{{0,3}}(?:\\?[\"'`])?"
    r"(?P<v>[^\s\"'`,;\\<>&]{{8,256}}+)(?![^\s\"'`,;\\<>&])"
)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,19}$")


def _name_check(words: str) -> Callable[[str, re.Match[str]], bool]:
    ends = _NAME_END[words]

    def key_ok(text: str, m: re.Match[str]) -> bool:
        """The whole name (read backwards) ends in a secret name that starts a word: `db_password`,
        `dbPassword`, `OPENAI_API_KEY`; not `compass`, `monkey`, `primary_key`."""
        end = m.end("kw")
        j = m.start()
        while j > 0 and text[j - 1] in _NAME_CHARS:
            j -= 1
            if end - j > 48:
                return False
        tail = ends.search(text, j, end)
        if tail is None:
            return False
        i = tail.start()
        if i > j and text[i - 1].isalpha() and not (text[i - 1].islower() and text[i].isupper()):
            return False
        return name_ok(text[j:end])

    return key_ok


def _has_scheme(text: str, m: re.Match[str]) -> bool:
    """`://` follows a URL scheme that starts a word (`postgres://`, `https://`)."""
    s = _SCHEME.search(text, max(0, m.start() - 20), m.start())
    return s is not None and (s.start() == 0 or text[s.start() - 1] not in _NAME_CHARS)


def _keyed(type_: str, names: str) -> Detector:
    """A JSON / form / query value whose field name is secret-looking (`{"password": "..."}`)."""
    return Detector(
        type=type_,
        group=SECRETS,
        pattern=rx(r"^\s{0,4}(\S{8,256})\s{0,4}$"),
        key=re.compile(rf"(?i)^[A-Za-z0-9_.-]{{0,40}}(?:{names})$"),
        key_filter=name_ok,
        value_group=1,
        validate=generic_value_ok,
        priority=10,
    )


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="url_password",
        group=SECRETS,
        pattern=rx(r"://[^\s:@/?#\"'<>\\]{1,128}:([^\s@/?#\"'<>\\]{1,128})@[A-Za-z0-9.-]{1,253}"),
        keywords=("://",),
        value_group=1,
        match_filter=_has_scheme,
        validate=url_password_ok,
        placeholder_check=False,
        priority=30,
    ),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_ASSIGN.format(names=_PASSWORD_NAMES)),
        lower=True,
        ikeywords=("pass", "pwd"),
        starts=("pass", "pwd"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=_name_check(_PASSWORD_NAMES),
        priority=10,
    ),
    Detector(
        type="generic_secret",
        group=SECRETS,
        pattern=rx(_ASSIGN.format(names=_SECRET_WORDS)),
        lower=True,
        ikeywords=("secret", "key", "token", "credential"),
        starts=("secret", "key", "token", "credential"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=_name_check(_SECRET_WORDS),
        priority=10,
    ),
    Detector(
        type="generic_secret",
        group=SECRETS,
        pattern=rx(
            r"authorization(?:\\?[\"'])?\s{0,3}:\s{0,3}(?:bearer|token)\s{1,3}"
            r"([A-Za-z0-9._~+/=-]{16,2048}+)(?![A-Za-z0-9._~+/=-])"
        ),
        lower=True,
        ikeywords=("authorization",),
        starts=("authorization",),
        value_group=1,
        min_entropy=3.0,
        priority=10,
    ),
    _keyed("generic_password", _PASSWORD_NAMES),
    _keyed("generic_secret", _SECRET_NAMES),
)
