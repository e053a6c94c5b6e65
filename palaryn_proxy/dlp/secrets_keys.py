"""Private keys (PEM, OpenSSH, PGP) and JSON Web Tokens."""

from __future__ import annotations

import re

from .detector import B_END, SECRETS, TOKEN_BEFORE, Detector, rx
from .validators import jwt_ok, shannon_entropy

# A line break inside armored text, raw or as a JSON/C escape.
_NL = r"(?:\r?\n|\\r?\\n)"
# Armored base64 body: base64 characters, whitespace and escaped line breaks; never a dash, so the body
# stops at the END line (or at the next BEGIN line when a key was cut short). Possessive: no backtracking.
_BODY = r"(?:[A-Za-z0-9+/=\s]|\\[nr]){64,16384}+"
_WS = r"(?:\s|\\[nr]){0,4}+"
_ENCRYPTED_HEADERS = rf"(?:Proc-Type: [^\r\n\\]{{1,64}}{_NL})?(?:DEK-Info: [^\r\n\\]{{1,128}}{_NL})?"
_ARMOR_HEADERS = rf"(?:[A-Za-z][A-Za-z-]{{0,30}}: [^\r\n\\]{{0,200}}{_NL}){{0,10}}+"

# The END line is optional so that a key cut short (a truncated paste, a stream window) is still found. No
# backreference to the BEGIN line's kind (a multi-pattern engine cannot run one): the END line may name any.
_PEM_KIND = r"(?:RSA |EC |DSA |ENCRYPTED )?"
_PEM_END = rf"(?:-----END {_PEM_KIND}PRIVATE KEY-----)?"
PEM_PRIVATE_KEY = rf"-----BEGIN {_PEM_KIND}PRIVATE KEY-----{_WS}{_ENCRYPTED_HEADERS}{_BODY}{_PEM_END}"
_JWT_EXAMPLE_SIGNATURE = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"  # the jwt.io sample token
_ARMOR_LINE = re.compile(r"-----[A-Z ]{1,40}-----|\\[nr]|\s")


def armored_body_ok(value: str) -> bool:
    """The base64 body between the armor lines looks random (not `...` or a repeated filler)."""
    body = _ARMOR_LINE.sub("", value)
    return len(body) >= 64 and shannon_entropy(body) >= 4.0


def _jwt_ok(value: str) -> bool:
    return not value.endswith(_JWT_EXAMPLE_SIGNATURE) and jwt_ok(value)


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="private_key",
        group=SECRETS,
        pattern=rx(PEM_PRIVATE_KEY),
        keywords=("-----BEGIN ",),
        anchors=("-----BEGIN ",),
        validate=armored_body_ok,
        placeholder_check=False,
        priority=80,
    ),
    Detector(
        type="openssh_private_key",
        group=SECRETS,
        pattern=rx(rf"-----BEGIN OPENSSH PRIVATE KEY-----{_WS}{_BODY}(?:-----END OPENSSH PRIVATE KEY-----)?"),
        keywords=("-----BEGIN ",),
        anchors=("-----BEGIN ",),
        validate=armored_body_ok,
        placeholder_check=False,
        priority=80,
    ),
    Detector(
        type="pgp_private_key",
        group=SECRETS,
        pattern=rx(
            rf"-----BEGIN PGP PRIVATE KEY BLOCK-----{_WS}{_ARMOR_HEADERS}{_BODY}"
            r"(?:-----END PGP PRIVATE KEY BLOCK-----)?"
        ),
        keywords=("-----BEGIN ",),
        anchors=("-----BEGIN ",),
        validate=armored_body_ok,
        placeholder_check=False,
        priority=80,
    ),
    Detector(
        type="jwt",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(
            rf"(eyJ[A-Za-z0-9_-]{{8,4096}}+\.eyJ[A-Za-z0-9_-]{{8,16384}}+\.[A-Za-z0-9_-]{{16,4096}}+){B_END}"
        ),
        keywords=("eyJ",),
        anchors=("eyJ",),
        value_group=1,
        validate=_jwt_ok,
        placeholder_check=False,
        priority=40,
        preview=3,
    ),
)
