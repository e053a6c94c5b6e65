"""Checks that turn a pattern match into a finding: checksums, Luhn, IBAN mod-97, entropy, placeholders."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from functools import lru_cache

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_PLACEHOLDER_WORDS = (
    "example",
    "your",
    "xxxx",
    "placeholder",
    "redacted",
    "dummy",
    "sample",
    "changeme",
    "change_me",
    "replace",
    "insert",
    "fake",
    "_here",
    "-here",
    "...",
    "***",
    "<",
    ">",
    "{{",
    "${",
    "1234567890",
    "0123456789",
    "abcdefghij",
)
_PLACEHOLDER_RE = re.compile("|".join(re.escape(w) for w in _PLACEHOLDER_WORDS), re.IGNORECASE)
# For an ASCII value, substring tests on its lower-case copy answer what _PLACEHOLDER_RE does several times
# faster (the alternation is tried at every position); a value that is not ASCII takes the regex, whose
# case folding also matches `ſ` to `s`.
_PLACEHOLDER_LOWER = tuple(w.lower() for w in _PLACEHOLDER_WORDS)
assert all(w.isascii() for w in _PLACEHOLDER_LOWER)
_RUN_RE = re.compile(r"(.)\1{7}")
_C_LOG_C = [0.0] + [c * math.log2(c) for c in range(1, 1025)]  # c*log2(c) for the counts of short values


def _c_log_c(c: int) -> float:
    return _C_LOG_C[c] if c <= 1024 else c * math.log2(c)


def shannon_entropy(value: str) -> float:
    """Bits per character: log2(n) - sum(c*log2(c))/n over the character counts c."""
    n = len(value)
    if not n:
        return 0.0
    counts = Counter(value).values()
    # the table's own floats, looked up at C speed when every count is in it (n <= 1024): the same sum
    return math.log2(n) - sum(map(_C_LOG_C.__getitem__ if n < len(_C_LOG_C) else _c_log_c, counts)) / n


# Keys published for local emulators: the Azurite storage account key, the Cosmos DB emulator key.
PUBLISHED_KEYS = frozenset(
    {
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==",
    }
)


@lru_cache(maxsize=1024)  # a value is often asked twice: by Detector.accepts, then by its validator
def is_placeholder(value: str) -> bool:
    """Documentation values: EXAMPLE keys, `your-key`, `xxxx`, runs of one character, few distinct chars,
    keys published for emulators."""
    if value.isascii():
        low = value.lower()
        if any(w in low for w in _PLACEHOLDER_LOWER):
            return True
    elif _PLACEHOLDER_RE.search(value):
        return True
    if _RUN_RE.search(value) or value in PUBLISHED_KEYS:
        return True
    return len(value) >= 12 and len(set(value)) < 6


def base62_encode(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(width, "0")


def crc32_base62_ok(token: str) -> bool:
    """GitHub / npm token format: 30 random base62 chars then the base62 CRC32 of them (6 chars)."""
    body = token.split("_", 1)[1] if "_" in token else token
    if len(body) < 7:
        return False
    rand, check = body[:-6], body[-6:]
    return base62_encode(binascii.crc32(rand.encode()), 6) == check


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# IBAN lengths per country (ISO 13616 registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Widely published sample numbers: documentation, not personal data.
KNOWN_SAMPLES = frozenset(
    {
        "4111111111111111", "4242424242424242", "4012888888881881", "5555555555554444", "5105105105105100",
        "378282246310005", "371449635398431", "6011111111111117", "3530111333300000", "4000056655665556",
        "GB82WEST12345698765432", "DE89370400440532013000", "GB29NWBK60161331926819", "FR1420041010050500013M02606",
        "078051120", "219099999", "123456789",
    }
)  # fmt: skip


def iban_ok(value: str) -> bool:
    iban = value.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or iban in KNOWN_SAMPLES:
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _card_brand_ok(d: str) -> bool:
    n = len(d)
    p2, p4 = int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if d.startswith(("6011", "65")) or 644 <= int(d[:3]) <= 649:
        return n in (16, 19)
    if 3528 <= p4 <= 3589:
        return n in (16, 19)
    if p2 in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if p2 == 62:
        return 16 <= n <= 19
    return False


def card_ok(value: str) -> bool:
    """Luhn, a major brand's prefix and length, consistent separators, not a published test number."""
    sep = None
    if not value.isdigit():
        seps = {c for c in value if not c.isdigit()}
        if len(seps) > 1:
            return False
        sep = seps.pop()
    digits = value.replace(sep, "") if sep else value
    if digits in KNOWN_SAMPLES or len(set(digits)) < 4:
        return False
    if sep:
        groups = [len(g) for g in value.split(sep)]
        if groups not in ([4, 4, 4, 4], [4, 6, 5], [4, 6, 4], [4, 4, 4, 4, 3], [4, 4, 4, 1]):
            return False
    return _card_brand_ok(digits) and luhn_ok(digits)


def ssn_ok(value: str) -> bool:
    digits = "".join(c for c in value if c.isdigit())
    if len(digits) != 9 or digits in KNOWN_SAMPLES:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return len(set(digits)) > 2 and not (len(set(area)) == len(set(group)) == len(set(serial)) == 1)


def b64url_decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def jwt_ok(value: str) -> bool:
    """The header part decodes to a JSON object naming an algorithm."""
    raw = b64url_decode(value.split(".", 1)[0])
    if raw is None:
        return False
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


def discord_token_ok(value: str) -> bool:
    """The first part of a Discord bot token is the base64 of the bot's numeric (snowflake) id."""
    raw = b64url_decode(value.split(".", 1)[0])
    return raw is not None and raw.isdigit() and 17 <= len(raw) <= 20


# Two regexes, one matched at the start and one searched: one alternation of both costs a try of every
# anchored branch at every position.
_REFERENCE_START = re.compile(
    r"[$%{<(\[/~@]|\.\.?/|(?:true|false|null|none|nil|undefined|required|optional|string|str|bytes|int|bool)$"
    r"|[A-Za-z_][A-Za-z0-9_.]*+[(\[]"  # a call, a subscript or a type: get(...), auth[1], Optional[str]
    r"|arn:|(?:env|file|secret|secrets|vault|ssm|keyvault|awssm|gcpsm|sops|op):"  # where it lives
    r"|(?:pbkdf2_\w{1,12}|argon2\w{0,4}|bcrypt\w{0,8}|scrypt|sha\d{0,3}|md5)\$|\{(?:SSHA|SHA|CRYPT|MD5)\}",  # a hash
    re.IGNORECASE,
)
_REFERENCE_ANYWHERE = re.compile(
    r"process\.env|os\.environ|getenv|env\(|ENV\[|secrets\.|vault:|://"
    r"|\.(?:txt|pem|key|json|ya?ml|env|crt|p12|pfx|jks|keystore|cfg|conf|ini)$",  # a file holding it
    re.IGNORECASE,
)
# _REFERENCE_ANYWHERE for an ASCII value: its words looked for in the lower-cased value (`in` is several
# times faster than the case-blind alternation), the file extension by a regex led by its literal dot.
_REFERENCE_WORDS = ("process.env", "os.environ", "getenv", "env(", "env[", "secrets.", "vault:", "://")
_FILE_EXTENSION = re.compile(r"\.(?:txt|pem|key|json|ya?ml|env|crt|p12|pfx|jks|keystore|cfg|conf|ini)$")


def _referenceish(value: str) -> bool:
    if _REFERENCE_START.match(value) is not None:
        return True
    if not value.isascii():
        return _REFERENCE_ANYWHERE.search(value) is not None
    low = value.lower()
    return any(w in low for w in _REFERENCE_WORDS) or _FILE_EXTENSION.search(low) is not None


# settings.API_KEY, self._token
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*+(?:\.[A-Za-z_][A-Za-z0-9_]*+)++$")
_RANDOM_PART = re.compile(
    r"^(?=[^.]{0,256}?\d)(?=[^.]{0,256}?[a-z])(?=[^.]{0,256}?[A-Z])(?![^.]{0,256}?[A-Z][a-z]{3})[^.]++$"
)


def is_reference(value: str) -> bool:
    """Code or configuration that names where a secret is (`os.environ[...]`, `${VAR}`, `settings.KEY`,
    `./db-password.txt`), not the secret. A dotted name is code unless a part of it looks random
    (`JFQdImtz.Hh4bQ8` is a password with a dot in it)."""
    if _referenceish(value):
        return True
    return _DOTTED.match(value) is not None and not any(_RANDOM_PART.match(p) for p in value.split("."))


_IDENTIFIER_RE = re.compile(r"^[A-Za-z_.-]++$")  # code, not a credential: token_value, LDAPCredentials
_CAMEL_WORD = re.compile(r"[A-Z][a-z]{3,}+")
_WORDS_AND_NUMBER = re.compile(r"^[a-z]++(?:[_-][a-z]++)++[_-]?\d{0,4}$|^[A-Z]++(?:_[A-Z]++)++_?\d{0,4}$")
_WEAK_PREFIXES = ("password", "passwd", "secret", "token", "changeit", "admin", "letmein", "qwerty", "welcome",
                  "anonymous", "guest", "supersecret", "topsecret", "mysecret", "mypassword", "hunter2", "iloveyou",
                  "abc123", "test1234")  # fmt: skip
# Leetspeak folded before the weak-prefix test: `P@ssw0rd!`, `s3cr3t123` are the documentation classics.
_LEET = str.maketrans("@4310$5!7", "aaeiossit")


def weak_password(value: str) -> bool:
    """A documentation / tutorial password: `password123`, `P@ssw0rd!`, `changeit`, `admin123`."""
    low = value.lower()
    return low.startswith(_WEAK_PREFIXES) or low.translate(_LEET).startswith(_WEAK_PREFIXES)


def _char_classes(value: str) -> int:
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


_B64_VALUE = re.compile(r"^[A-Za-z0-9+/]{8,}+={0,2}$")


def _base64_text(value: str) -> str | None:
    """The text a base64 value encodes (a Kubernetes Secret dump), if it encodes printable ASCII."""
    if len(value) % 4 or not _B64_VALUE.match(value):
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return text if text.isprintable() else None


def generic_value_ok(value: str) -> bool:
    """A value assigned to a secret-looking name is a secret only if it looks like one: long enough, not a
    placeholder, not a reference (`$VAR`, `os.environ[...]`, `settings.KEY`), mixed or high-entropy.
    A base64 value is judged by the text it encodes."""
    decoded = _base64_text(value)
    if decoded is not None:
        return _plain_value_ok(decoded)
    return _plain_value_ok(value)


def _plain_value_ok(value: str) -> bool:
    value = value.rstrip(")]};,")
    if not 8 <= len(value) <= 256 or is_placeholder(value) or value.isdigit():
        return False
    if is_reference(value) or weak_password(value):
        return False
    if _IDENTIFIER_RE.match(value) or _WORDS_AND_NUMBER.match(value):  # an identifier, `test-api-key-1`
        return False
    if len(_CAMEL_WORD.findall(value)) >= 2 and sum(map(str.isdigit, value)) <= 1:
        return False  # a type name: PKCS7PrivateKeyTypes
    entropy = shannon_entropy(value)
    if len(value) >= 20 and entropy >= 3.5:
        return True
    return entropy >= 2.9 and _char_classes(value) >= 2


_URL_PASSWORD_PLACEHOLDERS = frozenset(
    {"password", "pass", "passwd", "pwd", "secret", "changeme", "pw", "p", "x", "pat", "token", "key", "apikey"}
)  # fmt: skip


_PORT_LIST = re.compile(r"^\d{1,5}(?:,|$)")  # `host:123,host2:456@...`: a port list, not a password


_DOC_HOSTS = frozenset({"example", "host", "hostname", "myserver", "server", "yourserver", "your-server", "myhost",
                        "your-host", "yourhost", "domain.com", "yourdomain.com", "mydomain.com"})  # fmt: skip


def documentation_host(host: str) -> bool:
    """A host from documentation: example.com / .org / .net (RFC 2606), `.example`, `.invalid`, `myserver`."""
    host = host.lower().rstrip(".")
    if host in _DOC_HOSTS or host.endswith((".example", ".invalid")):
        return True
    return any(host == d or host.endswith("." + d) for d in ("example.com", "example.org", "example.net"))


def url_password_ok(value: str) -> bool:
    if len(value) < 3 or value.lower() in _URL_PASSWORD_PLACEHOLDERS or is_placeholder(value):
        return False
    if weak_password(value):
        return False
    if _PORT_LIST.match(value):
        return False
    return not _referenceish(value) and not value.startswith(("%s", "{"))


def bearer_value_ok(value: str) -> bool:
    """An opaque bearer token: not a placeholder or a word (`YOUR_TOKEN`, `access-token-here`), mixed."""
    if is_placeholder(value) or _IDENTIFIER_RE.match(value) or value.isdigit():
        return False
    entropy = shannon_entropy(value)
    if len(value) > 256:
        return entropy >= 4.0
    return entropy >= 3.0 and _char_classes(value) >= 2 and not weak_password(value)


_DOC_CREDENTIALS = frozenset({"aladdin", "opensesame", "open sesame", "user", "username", "admin", "test"})


def password_ok(value: str, min_len: int = 8) -> bool:
    """A password on its own (no name to go by: `user:pass@host`, Basic credentials): long enough, mixed,
    not a placeholder, a documentation classic or a reference."""
    if len(value) < min_len or len(value) > 256 or is_placeholder(value) or weak_password(value):
        return False
    if value.lower() in _URL_PASSWORD_PLACEHOLDERS or value.lower() in _DOC_CREDENTIALS:
        return False
    if _referenceish(value) or value.startswith(("%s", "{")):
        return False
    classes = _char_classes(value)
    entropy = shannon_entropy(value)
    return (classes >= 2 and entropy >= 2.5) or (len(value) >= 16 and entropy >= 3.5)


def basic_credentials(value: str) -> tuple[str, str] | None:
    """(user, password) of the base64 of `user:password` (HTTP Basic, docker `auth`, npm `_auth`), or None."""
    if not 8 <= len(value) <= 1024:
        return None
    body = value.rstrip("=")
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = text.partition(":")
    if not colon or not text.isprintable():
        return None
    return user, password


def basic_auth_ok(value: str) -> bool:
    """Base64 of `user:password` with a real-looking password (or a token as the user, the password
    empty: `sk_live_...:`), not `user:pass` or RFC 7617's `Aladdin:open sesame`."""
    creds = basic_credentials(value)
    if creds is None:
        return False
    user, password = creds
    if user.lower() in _DOC_CREDENTIALS and password.lower() in _DOC_CREDENTIALS:
        return False
    if not password:
        return len(user) >= 16 and bearer_value_ok(user)
    if user.lower() == "aladdin":
        return False
    return password_ok(password, 6)


def aws_secret_ok(value: str) -> bool:
    """40 characters of base64 from a random key: upper, lower and digits (not a hex digest or a word path)."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and shannon_entropy(value) >= 4.2
        and not is_placeholder(value)
    )
