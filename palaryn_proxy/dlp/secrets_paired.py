"""Secrets without a fixed prefix, recognised by their key, header or a paired identifier nearby.

An AWS secret access key is 40 characters of base64 that only its access key id nearby gives away; Basic
credentials are the base64 of `user:password` after `Basic` (or under docker's and npm's `auth`); a
password in `user:password@host` needs no scheme to be one; a secret is named by the `name` next to its
`value` (XML `<add key=... value=...>`, Kubernetes and ECS environment lists); a password is an argument of
a tool or a call that takes one (`mysql -p...`, `sshpass -p`, `curl -u user:...`, `IDENTIFIED BY '...'`,
`auth=("user", "...")`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator

from .detector import SECRETS, Detector, Span, rx
from .secrets_generic import PASSWORD_NAMES, SECRET_NAMES, VALUE, named
from .validators import (
    aws_secret_ok,
    basic_auth_ok,
    documentation_host,
    generic_value_ok,
    password_ok,
    shannon_entropy,
)

# -- AWS: a secret access key within a few lines of its access key id ---------------------------------------

_AWS_ANCHORS = ("AKIA", "ASIA", "ABIA", "ACCA")
_AWS_ID = rx(r"A(?:KIA|SIA|BIA|CCA)[A-Z2-7]{16}(?![A-Za-z0-9_-])")
_B64_RUN = rx(r"[A-Za-z0-9/+]{40,}+")
_B64_BEFORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+_-")
_B64_AFTER = _B64_BEFORE | {"="}
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
AWS_PAIR_WINDOW = 320  # characters between an id and its secret: a credentials file, a JSON object, a CSV row


def _aws_ids(text: str) -> list[tuple[int, int]]:
    """(start, end) of each access key id standing alone (not inside a longer token), in order."""
    out = []
    for anchor in _AWS_ANCHORS:
        pos = text.find(anchor)
        while pos != -1:
            if pos and text[pos - 1] in _TOKEN_CHARS:  # glued, and so is every later start in this token
                end = _NOT_TOKEN.search(text, pos)
                pos = text.find(anchor, end.start() + 1) if end is not None else -1
                continue
            m = _AWS_ID.match(text, pos)
            if m is not None and shannon_entropy(m.group()[4:]) >= 2.5:
                out.append(m.span())
                pos = text.find(anchor, m.end())
            else:
                pos = text.find(anchor, pos + 1)
    out.sort()
    return out


def _aws_paired_secrets(text: str) -> Iterator[Span]:
    """Standalone 40-character base64 runs within AWS_PAIR_WINDOW characters of an access key id (see
    _near_id for the segments between them). Each region of the text is searched once."""
    ids = _aws_ids(text)
    if not ids:
        return
    regions: list[list[int]] = []
    for s, e in ids:
        lo, hi = max(0, s - AWS_PAIR_WINDOW - 40), min(len(text), e + AWS_PAIR_WINDOW + 40)
        if regions and lo <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], hi)
        else:
            regions.append([lo, hi])
    starts = [s for s, _ in ids]
    for lo, hi in regions:
        for m in _B64_RUN.finditer(text, lo, hi):
            s, e = m.span()
            if e - s != 40 or (s > 0 and text[s - 1] in _B64_BEFORE):
                continue
            if e < len(text) and text[e] in _B64_AFTER:
                continue
            value = m.group()
            if any(a in value for a in _AWS_ANCHORS):
                continue
            if _near_id(text, ids, starts, s, e):
                yield s, e, value


_SEPARATOR = "\n\x00\n"  # engine.SEPARATOR: between the segments of one scan (JSON strings, headers...)


def _near_id(text: str, ids: list[tuple[int, int]], starts: list[int], s: int, e: int) -> bool:
    """An id within AWS_PAIR_WINDOW characters, in the same segment; or, when the candidate is a whole
    segment (a JSON value: `{"AccessKeyId": "AKIA...", "Secret": "..."}`), in a segment nearby. A whole
    segment that short is never remembered as clean (cleancache.MIN_CHARS), so its hits still depend on
    what surrounds it only through this pairing."""
    whole = (s == 0 or text.endswith(_SEPARATOR, 0, s)) and (e == len(text) or text.startswith(_SEPARATOR, e))
    k = bisect_left(starts, s)
    if k > 0:  # the nearest id before
        a, b = ids[k - 1]
        if s - b <= AWS_PAIR_WINDOW and (whole or "\x00" not in text[b:s]):
            return True
    if k < len(ids):  # the nearest id after
        a, b = ids[k]
        if a - e <= AWS_PAIR_WINDOW and (whole or "\x00" not in text[e:a]):
            return True
    return False


# -- Basic credentials: `Basic <base64 of user:password>`, docker's `"auth"`, npm's `_auth` ----------------

_B64_CREDENTIALS = r"([A-Za-z0-9+/]{8,1024}+={0,2})(?![A-Za-z0-9+/=_-])"

# -- `user:password@host` without a scheme (a config value, a pip `--proxy`) --------------------------------

_HOST_AFTER_AT = rx(
    r"@((?:[A-Za-z0-9-]{1,63}\.){1,10}[A-Za-z]{2,63}|localhost|\d{1,3}(?:\.\d{1,3}){3}"
    r"|[A-Za-z0-9-]{1,63}(?=:\d{1,5}(?![A-Za-z0-9])))(?::\d{1,5})?(?![A-Za-z0-9@_-])"
)
_USER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+%~-")
_PASSWORD_STOP = frozenset(" \t\r\n\x00:@/?#\"'<>\\`")
_USERINFO_BEFORE = frozenset(" \t\r\n=\"'(,;`>[{")
_IDENTIFIER = re.compile(r"^[A-Za-z_.-]++$")
# `mailto:list-request@host`, `sip:alice@host`: a URI without `//`; `From:jane.doe2@host`: an address.
_NOT_A_USER = frozenset(
    "mailto sip sips tel xmpp im news urn git ssh http https ftp sftp smtp imap pop ldap file callto skype"
    " irc magnet acct dav webcal from to cc bcc sender reply-to email e-mail mail contact author".split()
)
_MAIL_HOSTS = frozenset("gmail.com googlemail.com outlook.com hotmail.com live.com yahoo.com icloud.com me.com"
                        " proton.me protonmail.com aol.com gmx.com gmx.de mail.ru yandex.ru".split())  # fmt: skip


def _schemeless_userinfo(text: str) -> Iterator[Span]:
    """The password of `user:password@host` standing alone (after a space, `=`, a quote...): `DB_URL=app:
    s3cr3t@db.internal:5432`. URLs with a scheme are the url_password detector's."""
    if ":" not in text:
        return  # no `user:` (a MiB of `a@` would otherwise test every `@`)
    # The regex engine skips from `@` to `@` in C; a host holds no `@`, so no later one is passed over.
    for host in _HOST_AFTER_AT.finditer(text):
        at = p = host.start()
        while p > 0 and at - p < 128 and text[p - 1] not in _PASSWORD_STOP:
            p -= 1
        if p > 0 and text[p - 1] == ":" and p < at:
            u = p - 1
            while u > 0 and p - 1 - u < 64 and text[u - 1] in _USER_CHARS:
                u -= 1
            if u < p - 1 and (u == 0 or text[u - 1] in _USERINFO_BEFORE):
                password = text[p:at]
                if text[u : p - 1].lower() not in _NOT_A_USER and (
                    not _IDENTIFIER.match(password)
                    and text[u : p - 1] != password
                    and password_ok(password)
                    and not documentation_host(host.group(1))
                    and host.group(1).lower() not in _MAIL_HOSTS
                ):
                    yield p, at, password


# -- a secret named by the `name` / `key` next to its `value` ----------------------------------------------


def _name_value(names: str) -> str:
    """`<add key="ApiKey" value="...">`, `<property name="db.password" value="..."/>`, `- name: API_TOKEN`
    then `value: ...` (Kubernetes), `{"name": "DB_PASSWORD", "value": "..."}` (ECS, CloudFormation)."""
    return (
        r"(?<![a-z0-9_-])(?:key|name)(?:\\?[\"'])?[ \t]{0,2}[=:][ \t]{0,2}(?:\\?[\"'])?"
        rf"[a-z0-9_.:-]{{0,60}}?(?P<kw>{names})(?:\\?[\"'])?"
        r"(?:[ \t]{1,3}|[ \t]{0,2},[ \t]{0,2}|[ \t]{0,2}\r?\n[ \t]{0,16})(?:\\?[\"'])?value(?:\\?[\"'])?"
        r"[ \t]{0,2}[=:][ \t]{0,2}(?:\\?[\"'])?" + VALUE
    )


# -- passwords given to well-known tools and calls ------------------------------------------------------

_ARGS = r"(?:[ \t]{1,3}[^\s|;&]{1,256}+){0,12}?[ \t]{1,3}"  # the arguments before the flag, same command
_CLI_VALUE = r"(?:\\?[\"'])?(?P<v>[^\s\"'`\\]{4,256}+)(?:\\?[\"'])?(?![^\s;|&)])"


# `requests.get(url, auth=("user", "..."))`, `HTTPBasicAuth("user", "...")`, `smtp.login("user", "...")`,
# `new NetworkCredential("user", "...")`, `new UsernamePasswordCredentials("user", "...")`.
_KWARG = r"(?:[a-z]{1,10}[ \t]{0,2}=[ \t]{0,2})?"  # `login=`, `password=` before an argument
_CREDENTIAL_CALL = (
    r"(?:\bauth[ \t]{0,2}=[ \t]{0,2}[(\[]|(?:basic|digest)auth[ \t]{0,2}\(|\.login[ \t]{0,2}\("
    r"|\.basicauth[ \t]{0,2}\(|credentials?[ \t]{0,2}\(|passwordauthentication[ \t]{0,2}\()"
    rf"[ \t]{{0,2}}{_KWARG}[\"'][^\"'\n\\]{{1,128}}[\"'][ \t]{{0,2}},[ \t]{{0,2}}{_KWARG}"
    r"[\"'](?P<v>[^\s\"'\\]{6,256}+)[\"']"
)
# SQL: `CREATE USER app IDENTIFIED BY 'pw'`, `ALTER USER ... IDENTIFIED WITH mysql_native_password BY 'pw'`.
_IDENTIFIED_BY = (
    r"identified[ \t]{1,3}(?:with[ \t]{1,3}[a-z_]{1,40}[ \t]{1,3})?by[ \t]{1,3}(?:password[ \t]{1,3})?"
    r"[\"']?(?P<v>[^\s\"'\\;]{6,256}+)[\"']?(?![^\s;])"
)
# Passwords as arguments of well-known tools: `sqlplus system/pw@db`, `keytool -storepass pw`,
# `openssl ... -passin pass:pw`, `docker login -u u -p pw`, `poetry config http-basic.repo user pw`,
# redis.conf `requirepass pw`, OpenLDAP `rootpw`, `bindpw`.
_TOOL_PASSWORD = (
    r"(?:(?:sqlplus|rman|expdp|impdp|sqlldr)(?:[ \t]{1,3}-[a-z]{1,2}){0,2}[ \t]{1,3}[a-z0-9_$#]{1,30}/"
    r"|(?<![a-z0-9_-])-(?:src|dest|new)?(?:store|key)pass[ \t]{1,3}"
    r"|(?<![a-z0-9_-])-pass(?:in|out|word)?[ \t]{1,3}pass:"
    r"|(?:docker|podman|helm registry|oras|skopeo|buildah|crane|az)[ \t]{1,3}login" + _ARGS + r"-p[ \t]{1,3}"
    r"|poetry[ \t]{1,3}config[ \t]{1,3}http-basic\.[a-z0-9_.-]{1,64}[ \t]{1,3}[^\s]{1,128}[ \t]{1,3}"
    r"|(?<![a-z0-9_-])(?:requirepass|masterauth|rootpw|bindpw)[ \t]{1,8})"
    r"(?:\\?[\"'])?(?P<v>[^\s\"'`\\@]{6,256}+)"
)


_TOOL_WORDS = ("pass", "sqlplus", "rman", "expdp", "impdp", "sqlldr", "login", "http-basic", "masterauth", "rootpw",
               "bindpw")  # fmt: skip


def _sql_statement(text: str, m: re.Match[str]) -> bool:
    """SQL, not prose (`the type identified by name`): the keyword in capitals, or the password quoted."""
    return text.startswith("IDENTIFIED", m.start()) or text[m.start("v") - 1] in "\"'"


def _cli_password_ok(value: str) -> bool:
    return password_ok(value, 6) and not value.startswith("-")


def _curl_user_ok(value: str) -> bool:
    return password_ok(value, 6)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="aws_secret_access_key",
        group=SECRETS,
        pattern=_AWS_ID,
        finder=_aws_paired_secrets,
        keywords=_AWS_ANCHORS,
        validate=aws_secret_ok,
        placeholder_check=True,
        priority=70,
    ),
    Detector(  # `Authorization: Basic ...` in a header, a curl command, an HTTP dump, code
        type="basic_auth",
        group=SECRETS,
        pattern=rx(r"(?<![a-z0-9_-])basic[ \t]{1,3}" + _B64_CREDENTIALS),
        lower=True,
        ikeywords=("basic",),
        starts=("basic",),
        value_group=1,
        validate=basic_auth_ok,
        placeholder_check=False,
        priority=25,
    ),
    Detector(  # docker config.json `"auth": "..."`, .npmrc `_auth=...`
        type="basic_auth",
        group=SECRETS,
        pattern=rx(r"(?<![a-z0-9])auth(?:\\?[\"'])?[ \t]{0,3}[:=][ \t]{0,3}(?:\\?[\"'])?" + _B64_CREDENTIALS),
        lower=True,
        ikeywords=("auth",),
        starts=("auth",),
        value_group=1,
        validate=basic_auth_ok,
        placeholder_check=False,
        priority=25,
    ),
    Detector(
        type="basic_auth",
        group=SECRETS,
        pattern=rx(r"^\s{0,4}" + _B64_CREDENTIALS + r"\s{0,4}$"),
        key=rx(r"(?i)^_?auth$"),
        value_group=1,
        validate=basic_auth_ok,
        placeholder_check=False,
        priority=25,
    ),
    Detector(
        type="url_password",
        group=SECRETS,
        pattern=rx(
            r"[^\s:@/]{1,128}:[^\s@/]{1,128}@(?:[A-Za-z0-9-]{1,63}\.|localhost|[A-Za-z0-9-]{1,63}:\d)"
        ),
        finder=_schemeless_userinfo,
        keywords=("@",),
        placeholder_check=False,
        priority=30,
    ),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_name_value(PASSWORD_NAMES)),
        lower=True,
        ikeywords=("pass", "pwd"),
        starts=("key", "name"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=named(PASSWORD_NAMES),
        priority=10,
    ),
    Detector(
        type="generic_secret",
        group=SECRETS,
        pattern=rx(_name_value(SECRET_NAMES)),
        lower=True,
        ikeywords=("secret", "key", "token", "credential"),
        starts=("key", "name"),
        value_group="v",
        validate=generic_value_ok,
        match_filter=named(SECRET_NAMES),
        priority=10,
    ),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_CREDENTIAL_CALL),
        lower=True,
        ikeywords=("auth", "login", "credential"),
        value_group="v",
        validate=_cli_password_ok,
        placeholder_check=False,
        priority=10,
    ),
    Detector(  # SQL
        type="generic_password",
        group=SECRETS,
        pattern=rx(_IDENTIFIED_BY),
        match_filter=_sql_statement,
        lower=True,
        ikeywords=("identified",),
        starts=("identified",),
        value_group="v",
        validate=_cli_password_ok,
        placeholder_check=False,
        priority=10,
    ),
    Detector(
        type="generic_password",
        group=SECRETS,
        pattern=rx(_TOOL_PASSWORD),
        lower=True,
        ikeywords=_TOOL_WORDS,
        value_group="v",
        validate=_cli_password_ok,
        placeholder_check=False,
        priority=10,
    ),
    Detector(  # mysql -p'...' / -p... (the password glued to -p), mysqldump, mysqladmin, mariadb
        type="generic_password",
        group=SECRETS,
        pattern=rx(r"(?:mysql|mariadb)[a-z-]{0,8}" + _ARGS + r"-p" + _CLI_VALUE),
        keywords=("mysql", "mariadb"),
        value_group="v",
        validate=_cli_password_ok,
        placeholder_check=False,
        priority=10,
    ),
    Detector(  # sshpass -p '...', redis-cli -a '...'
        type="generic_password",
        group=SECRETS,
        pattern=rx(r"(?:sshpass" + _ARGS + r"-p|redis-cli" + _ARGS + r"-a)[ \t]{0,3}" + _CLI_VALUE),
        keywords=("sshpass", "redis-cli"),
        value_group="v",
        validate=_cli_password_ok,
        placeholder_check=False,
        priority=10,
    ),
    Detector(  # curl -u user:password, curl --user 'user:password'
        type="generic_password",
        group=SECRETS,
        pattern=rx(
            r"curl" + _ARGS + r"(?:-u|--user)(?:[ \t]{1,3}|=)(?:\\?[\"'])?[^\s:\"'`\\]{1,128}:"
            r"(?P<v>[^\s\"'`\\]{4,256}+)(?:\\?[\"'])?(?![^\s;|&)])"
        ),
        keywords=("curl",),
        value_group="v",
        validate=_curl_user_ok,
        placeholder_check=False,
        priority=10,
    ),
)
