"""AWS SigV4: check a request was signed by the placeholder keys, and sign it again with the real ones."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_MAX_SKEW = timedelta(minutes=15)  # what AWS itself tolerates between X-Amz-Date and its clock
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request\s*,"
    r"\s*SignedHeaders=([a-z0-9;!#$%&'*+.^_`|~-]+)\s*,\s*Signature=([0-9a-f]{64})"
)
# Signed the way botocore signs S3: the path is neither normalised nor encoded a second time.
_S3_SERVICES = frozenset({"s3", "s3-outposts", "s3-object-lambda"})
_UNCHUNKED = frozenset({"UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
_FORMS = (
    "expected ACCESS_KEY_ID:SECRET_ACCESS_KEY or a JSON object with access_key_id, secret_access_key "
    "and optional session_token (or AccessKeyId, SecretAccessKey, SessionToken as `aws configure "
    "export-credentials --format process` prints them)"
)
_SNAKE_NAMES = ("access_key_id", "secret_access_key", "session_token")
_PROCESS_NAMES = ("AccessKeyId", "SecretAccessKey", "SessionToken")
_SNAKE = frozenset(_SNAKE_NAMES)
_PROCESS = frozenset(_PROCESS_NAMES) | {"Version", "Expiration"}


@dataclass(frozen=True, slots=True)
class AwsKeys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class SignatureError(Exception):
    """Why a request's SigV4 signature is not the placeholder's (message safe to log: no secrets)."""


@dataclass(frozen=True, slots=True)
class _Signed:
    """The parts of a verified request's Authorization header that signing again needs."""

    timestamp: str
    region: str
    service: str
    signed_headers: tuple[str, ...]


def parse_aws_value(text: str) -> AwsKeys:
    """Read a resolved credential value; the ValueError names the accepted forms, never the value."""
    text = text.strip()
    if not text.startswith("{"):
        access_key_id, sep, secret = text.partition(":")
        if not sep or not access_key_id.strip() or not secret.strip():
            raise ValueError(f"aws_sigv4 value: {_FORMS}")
        return AwsKeys(access_key_id.strip(), secret.strip())
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"aws_sigv4 value is not valid JSON: {_FORMS}") from None
    if not isinstance(data, dict):
        raise ValueError(f"aws_sigv4 value: {_FORMS}")
    allowed, names = (_PROCESS, _PROCESS_NAMES) if "AccessKeyId" in data else (_SNAKE, _SNAKE_NAMES)
    if not set(data) <= allowed:
        raise ValueError(f"aws_sigv4 value has an unknown field: {_FORMS}")
    key_id, secret_key, token = (data.get(name) for name in names)
    if not (isinstance(key_id, str) and key_id and isinstance(secret_key, str) and secret_key):
        raise ValueError(f"aws_sigv4 value lacks a string {names[0]} or {names[1]}: {_FORMS}")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"aws_sigv4 value: {names[2]} must be a string")
    return AwsKeys(key_id, secret_key, token or None)


def verify(method: str, url: str, headers: list[tuple[str, str]], body: bytes, keys: AwsKeys) -> None:
    """Raise SignatureError unless the Authorization header is a SigV4 signature by `keys` over this request."""
    _verify(method, url, headers, body, keys)


def resign(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    placeholder: AwsKeys,
    real: AwsKeys,
    service: str | None = None,
    region: str | None = None,
) -> list[tuple[str, str]]:
    """Verify the placeholder's signature, then return the headers with the request signed by `real`."""
    signed = _verify(method, url, headers, body, placeholder)
    timestamp = datetime.now(UTC).strftime(_TIMESTAMP)
    # Authorization keeps its place and gets its value once the signature is known; a None value drops the header.
    fresh = {"authorization": "", "x-amz-date": timestamp, "x-amz-security-token": real.session_token}
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower not in fresh:
            out.append((name, value))
        elif (new := fresh.pop(lower)) is not None:
            out.append((name, new))
    if real.session_token and "x-amz-security-token" in fresh:
        out.append(("X-Amz-Security-Token", real.session_token))
    names = set(signed.signed_headers) - {"x-amz-security-token"}
    names |= {"x-amz-date"} | ({"x-amz-security-token"} if real.session_token else set())
    signer = _signer_class()(_credentials(real), service or signed.service, region or signed.region, names)
    request = _request(method, url, out, body, timestamp)
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
        f"SignedHeaders={signer.signed_headers(names)}, Signature={signature}"
    )
    return [(name, authorization if name.lower() == "authorization" else value) for name, value in out]


def _verify(method: str, url: str, headers: list[tuple[str, str]], body: bytes, keys: AwsKeys) -> _Signed:
    signed, signature = _parse(headers, keys)
    _check_payload(_only(headers, "x-amz-content-sha256"), body)
    token = _only(headers, "x-amz-security-token") or ""
    if not hmac.compare_digest(token.encode(), (keys.session_token or "").encode()):
        raise SignatureError("X-Amz-Security-Token is not the placeholder's session token")
    signer = _signer_class()(_credentials(keys), signed.service, signed.region, signed.signed_headers)
    request = _request(method, url, headers, body, signed.timestamp)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureError("signature does not match the request and the placeholder's secret key")
    return signed


def _parse(headers: list[tuple[str, str]], keys: AwsKeys) -> tuple[_Signed, str]:
    """The Authorization header's parts and the request's date, checked against `keys` and the clock."""
    authorization = _only(headers, "authorization")
    match = _AUTHORIZATION.fullmatch(authorization.strip()) if authorization else None
    if match is None:
        raise SignatureError("no AWS4-HMAC-SHA256 Authorization header, or a garbled one")
    key_id, date, region, service, signed_list, signature = match.groups()
    if not hmac.compare_digest(key_id.encode(), keys.access_key_id.encode()):
        raise SignatureError("signed with another access key id than the placeholder's")
    timestamp = _only(headers, "x-amz-date")
    if timestamp is None:
        raise SignatureError("no X-Amz-Date header (a Date header alone is not supported)")
    try:
        signed_at = datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("X-Amz-Date is not a yyyymmddThhmmssZ timestamp") from None
    if abs(datetime.now(UTC) - signed_at) > _MAX_SKEW or not timestamp.startswith(date):
        raise SignatureError("X-Amz-Date is more than 15 minutes off, or not the credential scope's date")
    names = tuple(signed_list.split(";"))
    present = {name.lower() for name, _ in headers} | {"host"}
    if "host" not in names or "x-amz-date" not in names or not set(names) <= present:
        raise SignatureError("SignedHeaders misses host or x-amz-date, or names a header the request lacks")
    return _Signed(timestamp, region, service, names), signature


def _check_payload(declared: str | None, body: bytes) -> None:
    """Streaming chunk signatures would need every chunk re-signed; a declared hash must be the body's."""
    if declared is None or declared in _UNCHUNKED:
        return
    if declared.startswith("STREAMING-"):
        raise SignatureError("chunk-signed streaming payloads (STREAMING-AWS4-...) are not supported")
    if not hmac.compare_digest(declared.lower().encode(), hashlib.sha256(body).hexdigest().encode()):
        raise SignatureError("X-Amz-Content-SHA256 is not the body's SHA-256")


def _only(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    if len(values) > 1:
        raise SignatureError(f"more than one {name} header")
    return values[0] if values else None


def _request(method: str, url: str, headers: list[tuple[str, str]], body: bytes, timestamp: str) -> Any:
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped, unused-ignore]

    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        if name.lower() != "authorization":
            request.headers[name] = value  # HTTPHeaders appends: repeated headers stay repeated
    request.context["timestamp"] = timestamp
    return request


def _credentials(keys: AwsKeys) -> Any:
    from botocore.credentials import Credentials  # type: ignore[import-untyped, unused-ignore]

    return Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)


@functools.cache
def _signer_class() -> Any:
    """botocore's SigV4Auth, told which headers were signed; built on first use as botocore is optional."""
    try:
        from botocore.auth import SigV4Auth, _host_from_url  # type: ignore[import-untyped, unused-ignore]
        from botocore.compat import HTTPHeaders  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise SignatureError(
            "aws_sigv4 credentials need botocore: pip install 'palaryn-proxy[aws]'"
        ) from None

    class _Signer(SigV4Auth):  # type: ignore[misc, unused-ignore]  # botocore is untyped
        def __init__(self, credentials: Any, service: str, region: str, names: Iterable[str]) -> None:
            super().__init__(credentials, service, region)
            self._names = frozenset(names)

        def headers_to_sign(self, request: Any) -> Any:
            chosen = HTTPHeaders()
            for name, value in request.headers.items():
                if name.lower() in self._names:
                    chosen[name.lower()] = value
            if "host" in self._names and "host" not in chosen:
                chosen["host"] = _host_from_url(request.url)  # HTTP/2 carries it as :authority
            return chosen

        def _normalize_url_path(self, path: str) -> str:
            return path if self._service_name in _S3_SERVICES else str(super()._normalize_url_path(path))

    return _Signer
