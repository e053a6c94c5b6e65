"""Cloud credentials: AWS, Google Cloud and Azure."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import B64_BEFORE, B64_END, B_END, SECRETS, TOKEN_BEFORE, Detector, Span, assignment, rx
from .secrets_keys import PEM_PRIVATE_KEY, armored_body_ok

_SAS_VERSION = re.compile(r"[?&]sv=\d{4}-\d{2}-\d{2}")
_AZURE_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-")
_AZURE_SECRET_TAIL = rx(r"Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])")


def _in_sas_url(text: str, m: re.Match[str]) -> bool:
    """`sig=` is a query parameter of a URL that also carries a storage service version (`sv=2022-11-02`)."""
    s = m.start()
    if s == 0 or text[s - 1] not in "?&":
        return False
    return _SAS_VERSION.search(text, max(0, s - 600), m.end() + 600) is not None


def _azure_client_secrets(text: str) -> Iterator[Span]:
    """Entra ID client secrets: 3 characters, a digit, `Q~`, 31-34 characters; anchored on `Q~`."""
    for m in _AZURE_SECRET_TAIL.finditer(text):
        s = m.start() - 4
        if s < 0 or not text[s + 3].isdigit() or not all(c in _AZURE_SECRET_CHARS for c in text[s : s + 3]):
            continue
        if s == 0 or text[s - 1] not in _AZURE_SECRET_CHARS:
            yield s, m.end(), text[s : m.end()]


_AWS_SECRET_KEY_NAME = r"secret_?(?:access_?)?key"  # aws_secret_access_key, SecretAccessKey, aws_secret_key

DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="aws_access_key_id",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{{16}}){B_END}"),
        trigger=rx(r"A(?:KIA|SIA|BIA|CCA)"),
        anchors=("AKIA", "ASIA", "ABIA", "ACCA"),
        value_group=1,
        min_entropy=2.5,
        priority=70,
        preview=4,
    ),
    Detector(
        type="aws_secret_access_key",
        group=SECRETS,
        pattern=rx(assignment(_AWS_SECRET_KEY_NAME, r"[A-Za-z0-9/+]{40}")),
        lower=True,
        ikeywords=("secret",),
        value_group=1,
        min_entropy=3.5,
        priority=70,
    ),
    Detector(
        type="aws_secret_access_key",
        group=SECRETS,
        pattern=rx(r"^\s{0,4}([A-Za-z0-9/+]{40})\s{0,4}$"),
        key=rx(rf"(?i)^(?:aws_?)?(?:{_AWS_SECRET_KEY_NAME})$"),
        value_group=1,
        min_entropy=3.5,
        priority=70,
    ),
    Detector(
        type="aws_session_token",
        group=SECRETS,
        not_after=B64_BEFORE,
        pattern=rx(rf"((?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz)[A-Za-z0-9/+=]{{100,4000}}+){B64_END}"),
        keywords=("IQoJb3JpZ2luX2Vj", "FwoGZXIvYXdz"),
        anchors=("IQoJb3JpZ2luX2Vj", "FwoGZXIvYXdz"),
        value_group=1,
        min_entropy=4.0,
        priority=70,
    ),
    Detector(
        type="google_api_key",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(AIza[0-9A-Za-z_-]{{35}}){B_END}"),
        keywords=("AIza",),
        anchors=("AIza",),
        value_group=1,
        min_entropy=3.5,
        priority=60,
        preview=4,
    ),
    Detector(
        type="google_oauth_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(ya29\.[0-9A-Za-z_-]{{30,2048}}+){B_END}"),
        keywords=("ya29.",),
        anchors=("ya29.",),
        value_group=1,
        min_entropy=3.5,
        priority=60,
        preview=4,
    ),
    Detector(
        type="gcp_service_account_key",
        group=SECRETS,
        pattern=rx(rf"\\?\"private_key\\?\"\s{{0,3}}:\s{{0,3}}\\?\"({PEM_PRIVATE_KEY})"),
        keywords=("private_key",),
        value_group=1,
        validate=armored_body_ok,
        placeholder_check=False,
        priority=90,
    ),
    Detector(
        type="gcp_service_account_key",
        group=SECRETS,
        pattern=rx(PEM_PRIVATE_KEY),
        key=rx(r"^private_key$"),
        validate=armored_body_ok,
        placeholder_check=False,
        priority=90,
    ),
    Detector(
        type="azure_storage_key",
        group=SECRETS,
        pattern=rx(rf"AccountKey=([A-Za-z0-9+/]{{86}}==){B64_END}"),
        keywords=("Key=",),
        value_group=1,
        min_entropy=4.0,
        priority=70,
    ),
    Detector(
        type="azure_sas_token",
        group=SECRETS,
        pattern=rx(r"sig=([A-Za-z0-9%+/]{40,100}(?:%3D|=){0,2})(?![A-Za-z0-9%+/=])"),
        keywords=("sig=",),
        value_group=1,
        min_entropy=3.5,
        priority=70,
        match_filter=_in_sas_url,
    ),
    Detector(
        type="azure_sas_token",
        group=SECRETS,
        pattern=rx(r"^([A-Za-z0-9+/]{42,90}={0,2})$"),
        key=rx(r"^sig$"),
        value_group=1,
        min_entropy=3.5,
        priority=70,
    ),
    Detector(
        type="azure_service_bus_key",
        group=SECRETS,
        pattern=rx(
            r"Endpoint=sb://[A-Za-z0-9.-]{1,255}/?;SharedAccessKeyName=[^;\s\"']{1,256};"
            rf"SharedAccessKey=([A-Za-z0-9+/]{{43}}=){B64_END}"
        ),
        keywords=("Key=",),
        value_group=1,
        min_entropy=3.5,
        priority=70,
    ),
    Detector(
        type="azure_client_secret",
        group=SECRETS,
        pattern=_AZURE_SECRET_TAIL,
        finder=_azure_client_secrets,
        keywords=("Q~",),
        min_entropy=3.5,
        priority=60,
    ),
)
