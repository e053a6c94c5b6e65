"""SigV4 verify/resign against requests signed by the real boto3/botocore clients."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from palaryn_proxy.credentials import sigv4
from palaryn_proxy.credentials.sigv4 import AwsKeys, SignatureError, parse_aws_value, resign, verify

PLACEHOLDER = AwsKeys("AKIAPALARYNPLACEHLDR", "palaryn-placeholder/secret+key0123456789")
REAL = AwsKeys("AKIAREALKEYID0000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYREALSECRET")
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello, ünïcode"}]}]
AUTH = re.compile(
    r"Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=(\w+)"
)


@dataclass(frozen=True)
class Wire:
    """A request as it leaves the client: what the proxy hands to verify/resign."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())

    def with_header(self, name: str, value: str) -> Wire:
        return replace(
            self, headers=[(k, value if k.lower() == name.lower() else v) for k, v in self.headers]
        )

    def without_header(self, name: str) -> Wire:
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() != name.lower()])


class _Captured(Exception):
    pass


def _client(service: str, keys: AwsKeys, **kwargs: Any) -> Any:
    session = boto3.Session(
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
        region_name="us-east-1",
    )
    return session.client(service, config=Config(retries={"total_max_attempts": 1}), **kwargs)


def _capture(client: Any, call: Callable[[Any], object]) -> Wire:
    """Run a real client call up to the point of sending; return the signed request as it would go out."""
    sent: list[Any] = []

    def before_send(request: Any, **_: Any) -> None:
        sent.append(request)
        raise _Captured

    client.meta.events.register("before-send", before_send)
    try:
        with pytest.raises(_Captured):
            call(client)
    finally:
        client.meta.events.unregister("before-send", before_send)
    request = sent[0]
    body = request.body.read() if hasattr(request.body, "read") else request.body or b""
    # http.client adds Host first, then the headers botocore prepared.
    headers = [("Host", urlsplit(request.url).netloc)]
    headers += [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()]
    return Wire(request.method, request.url, headers, body.encode() if isinstance(body, str) else body)


def _sign(wire: Wire, keys: AwsKeys, service: str, *, unsigned_payload: bool = False) -> Wire:
    """Sign with botocore's stock SigV4Auth (for cases no boto3 operation produces on its own)."""
    request = AWSRequest(method=wire.method, url=wire.url, headers=dict(wire.headers), data=wire.body)
    request.context["payload_signing_enabled"] = not unsigned_payload
    creds = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(request)
    return Wire(wire.method, wire.url, list(request.headers.items()), wire.body)


def _verify(wire: Wire, keys: AwsKeys) -> None:
    verify(wire.method, wire.url, wire.headers, wire.body, keys)


def _resign(wire: Wire, **kwargs: Any) -> list[tuple[str, str]]:
    return resign(wire.method, wire.url, wire.headers, wire.body, **kwargs)


def _stock_signature_ok(wire: Wire, keys: AwsKeys) -> bool:
    """An upstream's check, by botocore's unmodified signer classes (not the module under test)."""
    key_id, _, region, service, signed, signature = AUTH.search(wire.header("Authorization")).groups()
    names = signed.split(";")
    request = AWSRequest(method=wire.method, url=wire.url, data=wire.body)
    for name, value in wire.headers:
        if name.lower() in names:
            request.headers[name] = value
    request.context["timestamp"] = wire.header("X-Amz-Date")
    cls = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
    signer = cls(Credentials(keys.access_key_id, keys.secret_access_key), service, region)
    assert signer.signed_headers(signer.headers_to_sign(request)) == signed
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return key_id == keys.access_key_id and expected == signature


@pytest.fixture(scope="module")
def bedrock() -> Any:
    return _client("bedrock-runtime", PLACEHOLDER)


@pytest.fixture(scope="module")
def s3() -> Any:
    return _client("s3", PLACEHOLDER)


@pytest.fixture(scope="module")
def converse(bedrock: Any) -> Wire:
    return _capture(bedrock, lambda c: c.converse(modelId=MODEL, messages=MESSAGES))


@pytest.fixture(scope="module")
def invoke(bedrock: Any) -> Wire:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": MESSAGES})
    return _capture(
        bedrock, lambda c: c.invoke_model(modelId=MODEL, body=body, contentType="application/json")
    )


@pytest.fixture(scope="module")
def converse_stream(bedrock: Any) -> Wire:
    return _capture(bedrock, lambda c: c.converse_stream(modelId=MODEL, messages=MESSAGES))


@pytest.fixture(scope="module")
def listing(s3: Any) -> Wire:
    return _capture(s3, lambda c: c.list_objects_v2(Bucket="my-bucket", Prefix="a b/ü+x=y&z~", Delimiter="/"))


@pytest.fixture(scope="module")
def get_object(s3: Any) -> Wire:
    return _capture(
        s3, lambda c: c.get_object(Bucket="my-bucket", Key="dir/a b+c~é:1 (2).txt", VersionId="v 1")
    )


def test_boto3_requests_look_as_expected(
    converse: Wire, invoke: Wire, listing: Wire, get_object: Wire
) -> None:
    assert (
        converse.method == invoke.method == "POST" and b"hello" in converse.body and b"hello" in invoke.body
    )
    assert "%3A0/converse" in converse.url and "%3A0/invoke" in invoke.url
    assert listing.method == "GET" and "prefix=a%20b%2F%C3%BC%2Bx%3Dy%26z~" in listing.url
    assert "/dir/a%20b%2Bc~%C3%A9%3A1%20%282%29.txt?versionId=v%201" in get_object.url


@pytest.mark.parametrize("name", ["converse", "converse_stream", "invoke", "listing", "get_object"])
def test_verify_accepts_boto3_signed_requests(name: str, request: pytest.FixtureRequest) -> None:
    wire: Wire = request.getfixturevalue(name)
    _verify(wire, PLACEHOLDER)
    assert _stock_signature_ok(wire, PLACEHOLDER)


def _tampered(wire: Wire, what: str) -> Wire:
    if what == "body":
        return replace(wire, body=wire.body.replace(b"hello", b"hellO"))
    if what == "header":
        return wire.with_header("Content-Type", "text/plain")
    if what == "host":
        return wire.with_header("Host", "attacker.example")
    if what == "path":
        return replace(wire, url=wire.url.replace("v1%3A0", "v2%3A0"))
    if what == "method":
        return replace(wire, method="PUT")
    if what == "query":
        return replace(wire, url=wire.url.replace("delimiter=%2F", "delimiter=%2C"))
    if what == "s3-path":
        return replace(wire, url=wire.url.replace("/dir/a%20b", "/dir/a%20c"))
    raise AssertionError(what)


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("converse", "body"),
        ("converse", "header"),
        ("converse", "host"),
        ("converse", "path"),
        ("converse", "method"),
        ("invoke", "body"),
        ("invoke", "path"),
        ("listing", "query"),
        ("get_object", "s3-path"),
    ],
)
def test_verify_rejects_tampering(name: str, what: str, request: pytest.FixtureRequest) -> None:
    wire = _tampered(request.getfixturevalue(name), what)
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(wire, PLACEHOLDER)


def test_verify_checks_a_declared_payload_hash(listing: Wire) -> None:
    with pytest.raises(SignatureError, match="not the body's SHA-256"):
        _verify(replace(listing, body=b"smuggled"), PLACEHOLDER)


def test_verify_rejects_wrong_keys(converse: Wire) -> None:
    other_secret = AwsKeys(PLACEHOLDER.access_key_id, PLACEHOLDER.secret_access_key + "x")
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(converse, other_secret)
    with pytest.raises(SignatureError, match="another access key id") as caught:
        _verify(converse, REAL)
    assert PLACEHOLDER.access_key_id not in str(caught.value) and REAL.access_key_id not in str(caught.value)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer palaryn",
        "AWS4-HMAC-SHA256 Credential=AKIAPALARYNPLACEHLDR/20260101/us-east-1/bedrock, Signature=00",
        "AWS4-HMAC-SHA1 Credential=x",
        "",
    ],
)
def test_verify_rejects_missing_or_garbled_authorization(converse: Wire, authorization: str | None) -> None:
    wire = converse.without_header("Authorization")
    if authorization is not None:
        wire = replace(wire, headers=[*wire.headers, ("Authorization", authorization)])
    with pytest.raises(SignatureError, match="Authorization"):
        _verify(wire, PLACEHOLDER)


def test_verify_rejects_a_second_authorization_header(converse: Wire) -> None:
    headers = [*converse.headers, ("authorization", converse.header("Authorization"))]
    with pytest.raises(SignatureError, match="more than one authorization"):
        _verify(replace(converse, headers=headers), PLACEHOLDER)


@pytest.mark.parametrize(("minutes", "accepted"), [(-20, False), (-10, True), (10, True), (20, False)])
def test_verify_enforces_clock_skew(
    minutes: int, accepted: bool, bedrock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    then = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: then)
    wire = _capture(bedrock, lambda c: c.converse(modelId=MODEL, messages=MESSAGES))
    monkeypatch.undo()
    assert wire.header("X-Amz-Date") == then.strftime("%Y%m%dT%H%M%SZ")
    if accepted:
        _verify(wire, PLACEHOLDER)
    else:
        with pytest.raises(SignatureError, match="15 minutes"):
            _verify(wire, PLACEHOLDER)


def test_unsigned_payload_is_honoured(converse: Wire) -> None:
    wire = _sign(converse.without_header("Authorization"), PLACEHOLDER, "bedrock", unsigned_payload=True)
    assert wire.header("X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    _verify(wire, PLACEHOLDER)
    _verify(replace(wire, body=b"another body"), PLACEHOLDER)  # the body is not signed
    tampered = wire.with_header("Content-Type", "text/plain")
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(tampered, PLACEHOLDER)
    out = _resign(wire, placeholder=PLACEHOLDER, real=REAL)
    assert ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD") in out
    assert _stock_signature_ok(replace(wire, headers=out), REAL)


def test_s3_put_with_unsigned_trailer_is_accepted(s3: Any) -> None:
    wire = _capture(s3, lambda c: c.put_object(Bucket="my-bucket", Key="k", Body=b"hello"))
    assert wire.header("X-Amz-Content-SHA256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    out = _resign(wire, placeholder=PLACEHOLDER, real=REAL)
    _verify(replace(wire, headers=out), REAL)
    assert _stock_signature_ok(replace(wire, headers=out), REAL)


def test_chunk_signed_streaming_is_refused(converse: Wire) -> None:
    unsigned = converse.without_header("Authorization")
    headers = [*unsigned.headers, ("X-Amz-Content-SHA256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")]
    wire = _sign(replace(unsigned, headers=headers), PLACEHOLDER, "bedrock")
    assert _stock_signature_ok(wire, PLACEHOLDER)
    with pytest.raises(SignatureError, match="not supported"):
        _verify(wire, PLACEHOLDER)
    with pytest.raises(SignatureError, match="not supported"):
        _resign(wire, placeholder=PLACEHOLDER, real=REAL)


@pytest.mark.parametrize("name", ["converse", "converse_stream", "invoke", "listing", "get_object"])
def test_resign_verifies_against_real_keys_only(name: str, request: pytest.FixtureRequest) -> None:
    wire: Wire = request.getfixturevalue(name)
    out = _resign(wire, placeholder=PLACEHOLDER, real=REAL)
    _verify(replace(wire, headers=out), REAL)
    assert _stock_signature_ok(replace(wire, headers=out), REAL)
    with pytest.raises(SignatureError):
        _verify(replace(wire, headers=out), PLACEHOLDER)
    replaced = {"authorization", "x-amz-date"}
    assert [k for k, _ in out] == [k for k, _ in wire.headers]  # same headers, same order
    assert [h for h in out if h[0].lower() not in replaced] == [
        h for h in wire.headers if h[0].lower() not in replaced
    ]
    assert REAL.secret_access_key not in repr(out) and PLACEHOLDER.access_key_id not in repr(out)
    old_names = AUTH.search(wire.header("Authorization")).group(5)
    assert AUTH.search(dict(out)["Authorization"]).group(5) == old_names


def test_resign_refuses_a_request_not_signed_by_the_placeholder(converse: Wire) -> None:
    real_signed = _sign(converse.without_header("Authorization"), REAL, "bedrock")
    with pytest.raises(SignatureError, match="another access key id"):
        _resign(real_signed, placeholder=PLACEHOLDER, real=REAL)


def test_resign_takes_service_and_region_overrides(converse: Wire) -> None:
    out = _resign(converse, placeholder=PLACEHOLDER, real=REAL, service="bedrock-custom", region="eu-west-3")
    key_id, _, region, service, _, _ = AUTH.search(dict(out)["Authorization"]).groups()
    assert (key_id, region, service) == (REAL.access_key_id, "eu-west-3", "bedrock-custom")
    assert _stock_signature_ok(replace(converse, headers=out), REAL)


@pytest.mark.parametrize(
    ("placeholder_token", "real_token"),
    [("ph-token-1", None), (None, "real-token-2"), ("ph-token-3", "real-token-4")],
)
def test_session_tokens_on_either_side(placeholder_token: str | None, real_token: str | None) -> None:
    placeholder = replace(PLACEHOLDER, session_token=placeholder_token)
    real = replace(REAL, session_token=real_token)
    wire = _capture(
        _client("bedrock-runtime", placeholder), lambda c: c.converse(modelId=MODEL, messages=MESSAGES)
    )
    _verify(wire, placeholder)
    with pytest.raises(SignatureError, match="session token"):
        _verify(wire, replace(placeholder, session_token="other"))
    out = _resign(wire, placeholder=placeholder, real=real)
    tokens = [v for k, v in out if k.lower() == "x-amz-security-token"]
    assert tokens == ([real_token] if real_token else [])
    signed = AUTH.search(dict(out)["Authorization"]).group(5).split(";")
    assert ("x-amz-security-token" in signed) == bool(real_token)
    _verify(replace(wire, headers=out), real)
    assert _stock_signature_ok(replace(wire, headers=out), real)
    assert placeholder_token is None or placeholder_token not in repr(out)


class _Recorder(BaseHTTPRequestHandler):
    seen: list[Wire] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        url = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}{self.path}"
        type(self).seen.append(Wire(self.command, url, list(self.headers.items()), body))
        reply = {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_request_as_received_on_the_wire(loopback: ThreadingHTTPServer) -> None:
    _Recorder.seen = []
    host, port = loopback.server_address[:2]
    client = _client("bedrock-runtime", PLACEHOLDER, endpoint_url=f"http://{host}:{port}")
    answer = client.converse(modelId=MODEL, messages=MESSAGES)
    assert answer["output"]["message"]["content"] == [{"text": "ok"}]
    (wire,) = _Recorder.seen
    assert "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse" in wire.url
    _verify(wire, PLACEHOLDER)
    out = _resign(wire, placeholder=PLACEHOLDER, real=REAL)
    assert _stock_signature_ok(replace(wire, headers=out), REAL)
    assert [k for k, _ in out] == [k for k, _ in wire.headers]


SECRET = "s3cr3tVALUEnotToEcho"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AKIAEXAMPLE:wJalr/XUtn+FEMI\n", AwsKeys("AKIAEXAMPLE", "wJalr/XUtn+FEMI")),
        ('{"access_key_id": "AKIA1", "secret_access_key": "s/k"}', AwsKeys("AKIA1", "s/k")),
        (
            '{"access_key_id": "ASIA1", "secret_access_key": "s", "session_token": "t=="}',
            AwsKeys("ASIA1", "s", "t=="),
        ),
        (
            '{"Version": 1, "AccessKeyId": "ASIA2", "SecretAccessKey": "s2", "SessionToken": "t2",'
            ' "Expiration": "2026-12-08T05:00:00+00:00"}',
            AwsKeys("ASIA2", "s2", "t2"),
        ),
    ],
)
def test_parse_aws_value_accepts_both_forms(text: str, expected: AwsKeys) -> None:
    assert parse_aws_value(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        SECRET,
        f"{SECRET}:",
        f":{SECRET}",
        f'{{"access_key_id": "AKIA", "secret_access_key": "{SECRET}"',
        f'["AKIA", "{SECRET}"]',
        f'{{"access_key_id": "AKIA", "secret": "{SECRET}"}}',
        f'{{"access_key_id": "AKIA", "secret_access_key": "{SECRET}", "session_token": 5}}',
        f'{{"access_key_id": 7, "secret_access_key": "{SECRET}"}}',
        f'{{"{SECRET}": "AKIA"}}',
    ],
)
def test_parse_aws_value_errors_never_contain_the_value(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_aws_value(text)
    message = str(caught.value)
    assert SECRET not in message and "AKIA" not in message
    assert "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in message or "must be a string" in message
    assert caught.value.__cause__ is None  # a JSONDecodeError would carry the whole text as .doc
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_botocore_is_imported_lazily() -> None:
    code = "import sys, palaryn_proxy.credentials.sigv4; print('botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_missing_botocore_is_a_signature_error(converse: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    sigv4._signer_class.cache_clear()
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    try:
        with pytest.raises(SignatureError, match=r"pip install 'palaryn-proxy\[aws\]'"):
            _verify(converse, PLACEHOLDER)
    finally:
        monkeypatch.undo()
        sigv4._signer_class.cache_clear()
    _verify(converse, PLACEHOLDER)
