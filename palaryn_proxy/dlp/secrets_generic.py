"""Credentials without a vendor format: URLs with a password, `password=` / `api_key:` assignments in every common
syntax, command-line flags and `.netrc` entries, bearer tokens in text."""

from __future__ import annotations

import re
from collections.abc import Callable

from .detector import SECRETS, Detector, rx
from .shapes import VALUE_CHARS
from .validators import bearer_value_ok, documentation_host, generic_value_ok, url_password_ok

PASSWORD_NAMES = r"pass(?:word|wd|phrase|code)?|pwd"
SECRET_NAMES = (
    r"secret|api[_-]?key|access[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token"
    r"|client[_-]?secret|private[_-]?key|token|credentials?|secret[_-]?key"
    r"|(?:signing|encryption|master|account|app|license|admin|hmac|shared|subscription|storage)[_-]?key"
)
SECRET_WORDS = r"secret|key|token|credentials?"  # the last word of every name above: the regex anchor
# What may follow the secret word in a name that still names the secret itself (`API_KEY_2`, `SECRET_KEY_BASE`).
NAME_SUFFIX = r"(?:[_-]?\d{1,2}|[_.-](?:prod|dev|test|staging|live|base|b64|base64|value))?"
_NAME_END = {
    PASSWORD_NAMES: re.compile(rf"(?:{PASSWORD_NAMES})$", re.IGNORECASE),
    SECRET_WORDS: re.compile(rf"(?:{SECRET_NAMES})$", re.IGNORECASE),
    SECRET_NAMES: re.compile(rf"(?:{SECRET_NAMES})$", re.IGNORECASE),
}
# Words in a field name that mean the value is not a secret (pagination cursors, limits, file paths...).
_NOT_SECRET_WORDS = frozenset(
    "page cursor continuation sync max min num count limit total usage budget length size type kind name format"
    " prefix id url uri path file endpoint field header expires expiry expiration ttl hint label policy mode hash"
    " placeholder param template csrf xsrf authenticity nonce public pub idempotency sort partition cache"
    " primary foreign unique composite reset forgot confirm confirmation next prev previous pagination paging"
    " offset marker resume continue delta skip watermark etag version".split()
)
_WORD_RE = re.compile(r"[A-Z]?[a-z]{1,40}|[A-Z]{1,40}(?![a-z])|\d{1,40}")


def name_ok(name: str) -> bool:
    """`next_page_token`, `max_tokens`, `password_file` name no secret; `db_password`, `API_KEY` do."""
    return not any(w.lower() in _NOT_SECRET_WORDS for w in _WORD_RE.findall(name[:100]))


NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


# Prefixes glued to a secret name in well-known variables: PGPASSWORD, DBPASS, SMTPPASSWORD, ROOTPW...
_GLUED_PREFIXES = ("pg", "db", "my", "smtp", "ldap", "ftp", "sql", "root", "admin", "redis", "mongo", "mysql", "git",
                   "svn")  # fmt: skip


def word_start(text: str, i: int, floor: int = 0) -> bool:
    """Does a word start at text[i]: not a letter before it, or a camelCase / ACRONYMWord boundary?
    `db_password`, `dbPassword`, `AWSSecretKey`, `PGPASSWORD`; not `compass`, `monkey`."""
    if i <= floor or not text[i - 1].isalpha():
        return True
    prev, cur = text[i - 1], text[i]
    if prev.islower() and cur.isupper():
        return True
    if prev.isupper() and cur.isupper() and i + 1 < len(text) and text[i + 1].islower():
        return True
    k = i
    while k > floor and text[k - 1].isalpha() and i - k <= 6:
        k -= 1
    return (k == floor or not text[k - 1].isalpha()) and text[k:i].lower() in _GLUED_PREFIXES


def name_at(text: str, start: int, end: int, words: str, limit: int = 48) -> tuple[int, int] | None:
    """Where the whole name whose last word is text[start:end] starts (read backwards over name
    characters), and where its secret name starts (`api_key` in `OPENAI_API_KEY`); None if the name does
    not end in a secret name starting a word, or names no secret."""
    j = start
    while j > 0 and text[j - 1] in NAME_CHARS:
        j -= 1
        if end - j > limit:
            return None
    if j > 1 and text[j - 1] in ":/\\@#%" and text[j - 2].isalnum() and text[j - 4 : j].lower() != "env:":
        return None  # a part of a path, an ARN (`...:secret:prod/db`); PowerShell's `$env:API_KEY` is a name
    tail = _NAME_END[words].search(text, j, end)
    if tail is None and j == start and j > 1 and text[j - 1] == " ":  # prose: `API key: ...`
        q = _QUALIFIER.search(text, max(0, j - 10), j)
        if q is not None and (q.start() == 0 or not text[q.start() - 1].isalnum()):
            return q.start(), q.start()
    if tail is None or not word_start(text, tail.start(), j):
        return None
    return (j, tail.start()) if name_ok(text[j:end]) else None


_QUALIFIER = re.compile(r"(?i)(?:api|access|secret|auth|client|bearer|app|private) $")


def key_name_ok(words: str) -> Callable[[str], bool]:
    """A key filter for keyed detectors: the field name ends in a secret name that starts a word (a label
    may spell it with spaces: `API Key`)."""
    pattern = re.compile(rf"(?:{words.replace('[_-]', '[_ -]')}){NAME_SUFFIX}$", re.IGNORECASE)

    def ok(name: str) -> bool:
        m = pattern.search(name)
        return m is not None and word_start(name, m.start()) and name_ok(name)

    return ok


# Run on lower-cased text: the regex anchors on the secret word (cheap to search); _key_ok then reads the
# whole name backwards in the original text. A quoted value runs to its closing quote; an unquoted one ends
# at a space, a quote, `,`, or a `;` / `&` that starts the next `name=` (a connection string, a query).
QUOTED_VALUE = r"(?<=[\"'`])[^\s\"'`\\]{{8,256}}+(?=\\?[\"'`])"
_PLAIN = r"[^\s\"'`,;\\<>&]{{1,256}}+"
UNQUOTED_VALUE = rf"(?<![\"'`]){_PLAIN}(?:[;&](?=\S)(?![a-z_][a-z0-9_ .-]{{{{0,30}}}}=){_PLAIN}){{{{0,4}}}}+(?![^\s\"'`,;\\<>&])"
# In a run of value characters (no space, quote, `,;&<>\\`) a name starting more than 512 characters
# before the run's end is followed by at most ~40 characters of suffix and operator, then a value that
# stops at 256 characters inside the run: neither value form can end there (`password=` a MiB long reads
# 256 characters per name otherwise). A match reads at most ~1,450 characters (5 value pieces).
_DEAD_RUNS = (VALUE_CHARS, 4096, 512, 2048)
_ASSIGN = (
    r"(?P<kw>{names})" + NAME_SUFFIX.replace("{", "{{").replace("}", "}}") + r"(?:\\?[\"'])?\]?"
    r"(?:[ \t]{{0,2}}:[ \t]{{0,2}}(?:str|string|&str|secretstr)(?![a-z0-9_]))?"  # `api_key: str = "..."`
    r"[ \t]{{0,3}}(?P<op>:=|=>|=(?![=~])|:(?!:)|>|\((?=[ \t]{{0,2}}\\?[\"'])"
    r"|(?<=[\"']),(?=[ \t]{{0,2}}\\?[\"'])|(?<=[a-z0-9])[ \t](?:is|was)[ \t](?:[ \t]{{0,2}}:)?"
    r"|(?<=[a-z0-9])[ \t](?=[ \t]{{0,2}}\\?[\"']))"
    r"[ \t]{{0,3}}(?:\\?[\"'`])?"
    rf"(?P<v>{QUOTED_VALUE}|{UNQUOTED_VALUE})"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,19}$")


def _name_check(words: str) -> Callable[[str, re.Match[str]], bool]:
    def key_ok(text: str, m: re.Match[str]) -> bool:
        """The whole name (read backwards) ends in a secret name that starts a word: `db_password`,
        `dbPassword`, `OPENAI_API_KEY`; not `compass`, `monkey`, `primary_key`. By the operator:
        `<password>value` is an XML element only after `<`; `setPassword("...")` / `.apiKey("...")` a setter
        or builder call; `"DB_PASSWORD", "..."` a quoted name then its value (a call's arguments); and
        `password is ...`, `storePassword "..."`, `IDENTIFIED WITH PASSWORD '...'` by a word or a space."""
        start = m.start()
        found = name_at(text, start, m.end("kw"), words)
        if found is None:
            return False
        j, tail = found
        op = m.group("op")
        if op == ">":
            return j > 0 and text[j - 1] == "<"
        if op == "(":  # the last part of a dotted name, before the secret name: `set`, `with` or nothing
            head = text[j:tail].rsplit(".", 1)
            return head[-1].lower().rstrip("_") in ("set", "with", "use") or (len(head) == 2 and not head[-1])
        if op == ",":  # `define('DB_PASSWORD', '...')`, `os.environ.setdefault("SECRET_KEY", "...")`
            return j > 0 and text[j - 1] in "\"'"
        if op.endswith(("is ", "was ", ":")) and op[0] in " \t":  # prose: the value must look random
            return _random_looking(m.group("v"))
        if op in " \t":  # `storePassword "..."`, `WITH PASSWORD '...'`; not `pass 'force=True'`
            return m.end("kw") - j >= 8
        return True

    return key_ok


def _random_looking(value: str) -> bool:
    """In prose (`the token is ...`) a value must hold letters and digits, and be long or mixed."""
    value = value.rstrip(".,;:)")
    letters = sum(c.isalpha() for c in value)
    digits = sum(c.isdigit() for c in value)
    return letters >= 2 and digits >= 2 and (len(value) >= 12 or not value.isalnum())


def _has_scheme(text: str, m: re.Match[str]) -> bool:
    """`://` follows a URL scheme that starts a word (`postgres://`, `https://`); the password is not the
    user name again (`postgres:postgres@`, `guest:guest@`: a default from the documentation)."""
    s = _SCHEME.search(text, max(0, m.start() - 20), m.start())
    if s is None or (s.start() != 0 and text[s.start() - 1] in NAME_CHARS):
        return False
    return text[m.start() + 3 : m.start(1) - 1] != m.group(1) and not documentation_host(m.group(2))


def _keyed(type_: str, names: str) -> Detector:
    """A JSON / form / query value whose field name is secret-looking (`{"password": "..."}`)."""
    return Detector(
        type=type_,
        group=SECRETS,
        pattern=rx(r"^\s{0,4}(\S{8,256})\s{0,4}$"),
        key=re.compile(rf"(?i)^[A-Za-z0-9_. -]{{0,40}}(?:{names.replace('[_-]', '[_ -]')}){NAME_SUFFIX}$"),
        key_filter=key_name_ok(names),
        value_group=1,
        validate=generic_value_ok,
        priority=10,
    )


VALUE = (  # a value by a `name` in commands and `name` / `value` pairs
    r"(?P<v>(?<=[\"'])[^\s\"'`\\]{8,256}+(?=\\?[\"'])"
    r"|(?<![\"'])[^\s\"'`,;\\<>&]{8,256}+(?![^\s\"'`,;\\<>&]))"
)


def named(words: str) -> Callable[[str, re.Match[str]], bool]:
    """A match filter: the name ending at the `kw` group names a secret (see name_at)."""

    def ok(text: str, m: re.Match[str]) -> bool:
        found = name_at(text, m.start("kw"), m.end("kw"), words, limit=64)
        return found is not None

    return ok


# -- passwords on command lines -----------------------------------------------------------------------------


def _flag(names: str) -> str:
    """`--password value`, `--api-key "value"` (the `=` form is an assignment, found with the others)."""
    return rf"(?<![a-z0-9_-])--[a-z0-9_-]{{0,30}}?(?P<kw>{names})[ \t]{{1,3}}(?:\\?[\"'])?" + VALUE


# `.netrc`: `machine host login user password secret`, on one line or several.
_NETRC = (
    r"(?<![a-z0-9_-])(?:login|account)[ \t\r\n]{1,16}[^\s]{1,128}+[ \t\r\n]{1,16}pass(?:word|wd)?[ \t]{1,8}"
    r"(?:\\?[\"'])?(?P<v>[^\s\"'\\]{8,256}+)"
)

_BEARER_VALUE = r"([A-Za-z0-9._~+/=-]{16,2048}+)(?![A-Za-z0-9._~+/=-])"

DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="url_password",
        group=SECRETS,
        pattern=rx(r"://[^\s:@/?#\"'<>\\]{0,128}:([^\s@/?#\"'<>\\]{1,128})@([A-Za-z0-9.-]{1,253})"),
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
        pattern=rx(_ASSIGN.format(names=PASSWORD_NAMES)),
        lower=True,
        dead_runs=_DEAD_RUNS,
        ikeywords=("pass", "pwd"),
        starts=("pass", "pwd"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=_name_check(PASSWORD_NAMES),
        priority=10,
    ),
    Detector(
        type="generic_secret",
        group=SECRETS,
        pattern=rx(_ASSIGN.format(names=SECRET_WORDS)),
        lower=True,
        dead_runs=_DEAD_RUNS,
        ikeywords=("secret", "key", "token", "credential"),
        starts=("secret", "key", "token", "credential"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=_name_check(SECRET_WORDS),
        priority=10,
    ),
    Detector(  # `Authorization: Bearer ...` in text: a curl command, a log line, an HTTP dump, code
        type="generic_secret",
        group=SECRETS,
        pattern=rx(
            r"authorization(?:\\?[\"'])?[ \t]{0,3}[:=,][ \t]{0,3}(?:\\?[\"'])?(?:bearer|token)[ \t]{1,3}"
            + _BEARER_VALUE
        ),
        lower=True,
        ikeywords=("authorization",),
        starts=("authorization",),
        value_group=1,
        validate=bearer_value_ok,
        priority=10,
    ),
    Detector(  # a JSON / form field named Authorization holding a bearer token (a tool call's headers)
        type="generic_secret",
        group=SECRETS,
        pattern=rx(r"(?i)^\s{0,4}(?:bearer|token)\s{1,3}" + _BEARER_VALUE + r"\s{0,4}$"),
        key=rx(r"(?i)^(?:proxy-)?authorization$"),
        value_group=1,
        validate=bearer_value_ok,
        priority=10,
    ),
    _keyed("generic_password", PASSWORD_NAMES),
    _keyed("generic_secret", SECRET_NAMES),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_flag(PASSWORD_NAMES)),
        lower=True,
        ikeywords=("pass", "pwd"),
        starts=("--",),
        value_group="v",
        validate=generic_value_ok,
        match_filter=named(PASSWORD_NAMES),
        priority=10,
    ),
    Detector(
        type="generic_secret",
        group=SECRETS,
        pattern=rx(_flag(SECRET_WORDS)),
        lower=True,
        ikeywords=("secret", "key", "token", "credential"),
        starts=("--",),
        value_group="v",
        validate=generic_value_ok,
        match_filter=named(SECRET_WORDS),
        priority=10,
    ),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_NETRC),
        lower=True,
        ikeywords=("pass",),
        starts=("login", "account"),
        value_group="v",
        validate=generic_value_ok,
        priority=10,
    ),
)
