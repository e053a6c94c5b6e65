"""Personal data: email addresses, phone numbers (pii_phone), US SSNs (also by field name: pii_ssn), payment cards,
IBANs and (opt-in) IP addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from . import pii_phone, pii_ssn
from .detector import PII, Detector, Span, rx
from .pii_phone import DIGITS2, NUMBER_RUN
from .shapes import DIGITS
from .validators import card_ok, iban_ok, ssn_ok

_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff pdf js mjs ts tsx jsx css scss json yaml yml xml html htm md txt"
    " py rb go rs java kt swift c h cpp hpp zip gz tgz tar lock log csv map wasm woff woff2 ttf".split()
)
_RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "example.edu")
_RESERVED_TLDS = frozenset({"test", "invalid", "localhost", "example", "local", "internal"})


def email_ok(value: str) -> bool:
    local, _, domain = value.rpartition("@")
    domain = domain.lower()
    tld = domain.rsplit(".", 1)[-1]
    if tld in _FILE_EXTENSIONS or tld in _RESERVED_TLDS:
        return False
    if domain in _RESERVED_DOMAINS or domain.endswith(tuple("." + d for d in _RESERVED_DOMAINS)):
        return False
    return not (local == "git" and domain in ("github.com", "gitlab.com", "bitbucket.org"))


def ip_ok(value: str) -> bool:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_reserved)


_EMAIL_DOMAIN = rx(
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24})(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)
_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_IBAN = rx(r"\d\d(?<=[A-Z][A-Z]\d\d)(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")


def _emails(text: str) -> Iterator[Span]:
    """Anchored on `@` (fast to find); the local part is read backwards."""
    for m in _EMAIL_DOMAIN.finditer(text):
        at = j = m.start()
        while j > 0 and text[j - 1] in _LOCAL_CHARS:
            j -= 1
        if at - j > 64:
            continue
        while j < at and not text[j].isalnum():
            j += 1
        if j < at:
            yield j, m.end(1), text[j : m.end(1)]


def _ibans(text: str) -> Iterator[Span]:
    """Anchored on the check digits, the country code read just before them."""
    for m in _IBAN.finditer(text):
        s = m.start() - 2
        if s == 0 or not text[s - 1].isalnum():
            yield s, m.end(), text[s : m.end()]


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="email",
        group=PII,
        pattern=_EMAIL_DOMAIN,
        finder=_emails,
        keywords=("@",),
        validate=email_ok,
        priority=20,
    ),
    *pii_phone.DETECTORS,
    Detector(
        type="us_ssn",
        group=PII,
        pattern=rx(r"(?<![\w-])(\d\d\d([- ])\d\d\2\d{4})(?![\w-])"),
        in_numbers=True,
        gate=NUMBER_RUN,
        not_after=rx(r"[\w-]\Z"),
        trigger=DIGITS2,
        value_group=1,
        validate=ssn_ok,
        placeholder_check=False,
        priority=25,
    ),
    Detector(
        type="us_ssn",
        group=PII,
        pattern=rx(r"(?:ssn|social security(?: number| no\.?)?)[:#\s]{1,4}(\d{9})(?![\w-])"),
        lower=True,
        ikeywords=("ssn", "social security"),
        starts=("ssn", "social security"),
        gate=(DIGITS, b"0" * 9),  # `\d{9}`
        value_group=1,
        validate=ssn_ok,
        placeholder_check=False,
        priority=25,
    ),
    *pii_ssn.DETECTORS,
    Detector(
        type="credit_card",
        group=PII,
        pattern=rx(r"(?<![\w-])(\d(?:[ -]?\d){12,18})(?![\w-])"),  # lookbehind: not_after, inside the engine
        in_numbers=True,
        gate=NUMBER_RUN,
        not_after=rx(r"[\w-]\Z"),
        trigger=DIGITS2,
        value_group=1,
        validate=card_ok,
        placeholder_check=False,
        priority=30,
    ),
    Detector(
        type="iban",
        group=PII,
        pattern=_IBAN,
        finder=_ibans,
        trigger=DIGITS2,
        gate=(DIGITS, b"AA00"),  # `[A-Z][A-Z]\d\d`
        validate=iban_ok,
        placeholder_check=False,
        priority=30,
    ),
    Detector(
        type="ip_address",
        group=PII,
        pattern=rx(r"((?:\d{1,3}\.){3}\d{1,3})(?![\w]|\.\d)"),
        not_after=rx(r"[\w.]\Z"),
        trigger=rx(r"\d\.\d"),
        value_group=1,
        validate=ip_ok,
        placeholder_check=False,
        priority=5,
    ),
)
