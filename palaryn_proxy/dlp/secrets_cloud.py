"""Cloud credentials: AWS, Google Cloud and Azure."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import B64_BEFORE, B64_END, B_END, SECRETS, TOKEN_BEFORE, Detector, Span, rx
from .secrets_keys import PEM_PRIVATE_KEY, armored_body_ok
from .validators import aws_secret_ok

# A storage SAS names its service version (`sv=2022-11-02`); a Service Bus / Event Hubs / IoT Hub one its
# key name (`skn=`) or the `SharedAccessSignature` that introduces it.
_SAS_CONTEXT = re.compile(r"(?:^|[?&=;\"'\s])sv=\d{4}-\d{2}-\d{2}|[?&]skn=|SharedAccessSignature")
_NOT_A_SECRET_KEY = re.compile(r"public|pub[_.-]|integrity|checksum|digest|hash|sha\d")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _storage_key_name(text: str, m: re.Match[str]) -> bool:
    """An 88-character key (64 bytes of base64) named as a key (`AccountKey`, `AZURE_STORAGE_KEY`, `key1`),
    not a public key or a digest; only a command-line flag (`--account-key ...`) takes it after a space."""
    j = m.start()
    while j > 0 and m.start() - j < 48 and text[j - 1] in _NAME_CHARS:
        j -= 1
    name = text[j : m.end("kw")].lower()
    if _NOT_A_SECRET_KEY.search(name):
        return False
    return not m.group("op").isspace() or name.startswith("-")


def _storage_key_field(name: str) -> bool:
    return _NOT_A_SECRET_KEY.search(name.lower()) is None


_AZURE_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-")
_AZURE_SECRET_TAIL = rx(r"Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])")


def _in_sas_url(text: str, m: re.Match[str]) -> bool:
    """`sig=` is a parameter of a shared access signature: a storage service version (`sv=2022-11-02`), a
    key name (`skn=`) or `SharedAccessSignature` nearby."""
    s = m.start()
    if s > 0 and text[s - 1] not in "?& \"'=":
        return False
    return _SAS_CONTEXT.search(text, max(0, s - 600), m.end() + 600) is not None


def _azure_client_secrets(text: str) -> Iterator[Span]:
    """Entra ID client secrets: 3 characters, a digit, `Q~`, 31-34 characters; anchored on `Q~`."""
    for m in _AZURE_SECRET_TAIL.finditer(text):
        s = m.start() - 4
        if s < 0 or not text[s + 3].isdigit() or not all(c in _AZURE_SECRET_CHARS for c in text[s : s + 3]):
            continue
        if s == 0 or text[s - 1] not in _AZURE_SECRET_CHARS:
            yield s, m.end(), text[s : m.end()]


# aws_secret_access_key, SecretAccessKey, aws_secret_key, aws-secret-access-key, AWS_SECRET, fs.s3a.secret.key
_AWS_SECRET_KEY_NAME = r"secret[_.-]?(?:access[_.-]?)?key|aws[_-]?secret"

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
        pattern=rx(
            rf"(?:{_AWS_SECRET_KEY_NAME})[a-z0-9_.-]{{0,24}}?(?:\\?[\"'])?\]?[ \t]{{0,3}}"
            r"(?:(?::=|=>|=|:)[ \t]{0,3}|(?<=[a-z0-9\"'])[ \t](?=[ \t]{0,2}\S))\s{0,3}(?:\\?[\"'`])?"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9_+/=-])"
        ),
        lower=True,
        ikeywords=("secret",),
        validate=aws_secret_ok,
        value_group=1,
        min_entropy=3.5,
        priority=70,
    ),
    Detector(
        type="aws_secret_access_key",
        group=SECRETS,
        pattern=rx(r"^\s{0,4}([A-Za-z0-9/+]{40})\s{0,4}$"),
        key=rx(rf"(?i)^(?:aws[_-]?)?(?:{_AWS_SECRET_KEY_NAME})$"),
        value_group=1,
        min_entropy=3.5,
        validate=aws_secret_ok,
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
    Detector(  # AZURE_STORAGE_KEY=..., "accountKey": "...", --account-key ..., primary_access_key = "..."
        type="azure_storage_key",
        group=SECRETS,
        pattern=rx(
            r"(?P<kw>key[12]?)(?:\\?[\"'])?[ \t]{0,3}(?P<op>:=|=>|=|:|(?<=[a-z0-9])[ \t])"
            rf"[ \t]{{0,3}}(?:\\?[\"'])?([A-Za-z0-9+/]{{86}}==){B64_END}"
        ),
        lower=True,
        ikeywords=("key",),
        starts=("key",),
        value_group=3,
        min_entropy=4.0,
        match_filter=_storage_key_name,
        priority=70,
    ),
    Detector(  # a JSON field: {"storageAccountKey": "..."}, {"primaryMasterKey": "..."}
        type="azure_storage_key",
        group=SECRETS,
        pattern=rx(r"^\s{0,4}([A-Za-z0-9+/]{86}==)\s{0,4}$"),
        key=rx(r"(?i)key[12]?$"),
        key_filter=_storage_key_field,
        value_group=1,
        min_entropy=4.0,
        priority=70,
    ),
    Detector(  # `az storage account keys list`: {"keyName": "key1", "permissions": "FULL", "value": "..."}
        type="azure_storage_key",
        group=SECRETS,
        pattern=rx(
            r"keyname(?:\\?[\"'])?[ \t]{0,3}[:=][ \t]{0,3}(?:\\?[\"'])?(?:key|primary|secondary)[^\x00]{0,160}?"
            rf"value(?:\\?[\"'])?[ \t]{{0,3}}[:=][ \t]{{0,3}}(?:\\?[\"'])?([A-Za-z0-9+/]{{86}}==){B64_END}"
        ),
        lower=True,
        ikeywords=("keyname",),
        starts=("keyname",),
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
        pattern=rx(  # Service Bus, Event Hubs (`Endpoint=sb://...;`), IoT Hub (`HostName=...;`)
            r"SharedAccessKeyName=[^;\s\"']{1,256};[ \t]{0,2}"
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
