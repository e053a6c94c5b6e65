"""Secrets without a vendor prefix: paired AWS keys, Basic credentials, passwords in URLs and in every common
assignment syntax, and what must stay clean (placeholders, references, pagination tokens, real headers)."""

from __future__ import annotations

import base64
import json
import re
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

import pytest
from conftest import load_corpus
from dlp_fakes import fake, fill

from palaryn_proxy.dlp import DlpScanner, secrets_cloud, secrets_generic, secrets_keys, secrets_paired
from palaryn_proxy.dlp.detector import TextView
from palaryn_proxy.dlp.validators import basic_auth_ok, is_reference, password_ok, weak_password

MINE = (
    *secrets_paired.DETECTORS,
    *secrets_generic.DETECTORS,
    *secrets_cloud.DETECTORS,
    *secrets_keys.DETECTORS,
)


def found(scanner: DlpScanner, text: str, ct: str = "text/plain", **kw: Any) -> list[tuple[str, str]]:
    body = text.encode()
    r = scanner.scan_request(host=kw.pop("host", "tools.example.net"), body=body, content_type=ct, **kw)
    return [(f.type, body[f.start : f.end].decode()) for f in r.findings if f.group == "secrets"]


# -- AWS: the secret next to its id -------------------------------------------------------------------------


def test_an_aws_secret_is_found_near_its_id_and_only_there(scanner: DlpScanner) -> None:
    key_id, secret = fake("aws_access_key_id", 1), fake("aws_secret_access_key", 1)
    assert ("aws_secret_access_key", secret) in found(scanner, f"id {key_id} and secret {secret}")
    assert ("aws_secret_access_key", secret) in found(scanner, f"{secret} goes with {key_id}")
    far = f"id {key_id}\n" + "Routine words about the deployment. " * 12 + f"\nlater: {secret}"
    assert found(scanner, far) == [("aws_access_key_id", key_id)]
    assert found(scanner, f"ghost: {secret} alone") == []  # no id, no name: any 40 characters


@pytest.mark.parametrize(
    "neighbour",
    [
        "9fceb02d0ae598e95dc970b74767f19372d61af8",  # a git sha: hex
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",  # one case, no digit
        "src/components/dashboard/widgets/ChartJS",  # a path: words
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # the documentation's
    ],
)
def test_forty_characters_that_are_not_a_random_key_are_not_paired(
    scanner: DlpScanner, neighbour: str
) -> None:
    key_id = fake("aws_access_key_id", 2)
    assert found(scanner, f"{key_id} {neighbour}") == [("aws_access_key_id", key_id)]


def test_a_longer_base64_run_is_not_a_secret_key(scanner: DlpScanner) -> None:
    key_id, blob = fake("aws_access_key_id", 3), fake("aws_session_token", 3)[16:76]
    assert found(scanner, f"{key_id} {blob}") == [("aws_access_key_id", key_id)]


def test_aws_pairing_crosses_json_values_but_not_into_longer_texts(scanner: DlpScanner) -> None:
    key_id, secret = fake("aws_access_key_id", 4), fake("aws_secret_access_key", 4)
    body = json.dumps({"env": {"key": key_id, "s": secret}})
    assert ("aws_secret_access_key", secret) in found(scanner, body, "application/json")
    prose = json.dumps({"id": key_id, "note": f"a build token {secret} for the staging bot, rotate it"})
    assert ("aws_secret_access_key", secret) not in found(scanner, prose, "application/json")


def test_aws_secret_by_name_in_more_spellings(scanner: DlpScanner) -> None:
    secret = fake("aws_secret_access_key", 5)
    for text in (
        f"fs.s3a.secret.key={secret}",
        f"cloud.aws.credentials.secret-key: {secret}",
        f"aws configure set aws_secret_access_key {secret}",
        f'$env:AWS_SECRET_ACCESS_KEY = "{secret}"',
    ):
        assert found(scanner, text) == [("aws_secret_access_key", secret)], text


# -- Basic credentials, real headers, binding ---------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_in_a_real_header_are_a_finding_an_opaque_bearer_is_not(
    scanner: DlpScanner,
) -> None:
    creds = fake("basic_auth", 6)
    r = scanner.scan_request(host="jenkins.acme.io", headers=[("Authorization", f"Basic {creds}")])
    assert [(f.type, f.location) for f in r.findings] == [("basic_auth", "request.header:Authorization")]
    for value in (f"Bearer {fake('opaque_token', 6)}", f"Token {fake('hex40', 6)}", fake("api_key", 6)):
        for name in ("Authorization", "X-Api-Key"):
            assert scanner.scan_request(host="tools.acme.io", headers=[(name, value)]).findings == []


def test_basic_carrying_a_provider_token_to_its_issuer_is_normal_use(scanner: DlpScanner) -> None:
    gh = fake("github_pat", 7)
    header = [("Authorization", f"Basic {_basic('x-access-token', gh)}")]
    assert scanner.scan_request(host="github.com", headers=header).findings == []
    assert [f.type for f in scanner.scan_request(host="paste.example.net", headers=header).findings] == [
        "github_pat"
    ]


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("user", "password"),
        ("Aladdin", "open sesame"),
        ("admin", "admin"),
        ("ci", "pass"),
        ("bot", "${TOKEN}"),
    ],
)
def test_documentation_basic_credentials_are_not_secrets(user: str, password: str) -> None:
    assert not basic_auth_ok(_basic(user, password))


def test_basic_credentials_need_a_colon_and_text() -> None:
    assert basic_auth_ok(_basic("deploy", "Xk29#mQ7vLp2"))
    assert basic_auth_ok(_basic("sk_" + fake("api_key", 8), ""))  # a token as the user, no password
    assert not basic_auth_ok(base64.b64encode(b"no colon in here at all").decode())
    assert not basic_auth_ok(base64.b64encode(bytes(range(40))).decode())
    assert not basic_auth_ok("authentication")


def test_docker_auth_as_json_and_as_text(scanner: DlpScanner) -> None:
    creds = fake("basic_auth", 9)
    doc = json.dumps({"auths": {"registry.acme.io": {"auth": creds}}})
    assert found(scanner, doc, "application/json") == [("basic_auth", creds)]
    assert found(scanner, "my ~/.docker/config.json:\n" + json.dumps(json.loads(doc), indent=2)) == [
        ("basic_auth", creds)
    ]


# -- passwords in URLs ------------------------------------------------------------------------------------


def test_user_and_password_before_a_host_need_no_scheme(scanner: DlpScanner) -> None:
    pw = fake("urlpass", 10)
    assert found(scanner, f"DB_HOST=app:{pw}@db.internal:5432") == [("url_password", pw)]
    assert found(scanner, f"proxy = ops:{pw}@10.1.2.3:8080") == [("url_password", pw)]
    assert found(scanner, f"redis://:{pw}@cache:6379/0") == [("url_password", pw)]


@pytest.mark.parametrize(
    "text",
    [
        "mailto:list-request2024@lists.acme.io and sip:alice@atlanta.acme.io",
        "postgres://postgres:postgres@localhost:5432/postgres",
        "smb://myuser:Xk29mQ7vLp@myserver.example.com/share",
        "docker pull ghcr.io/acme/api:1.4.2@sha256:3f5e2b7a9c1d8e4f6a0b2c4d6e8f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f",
        "meet at 10:30@HQ, ref build:release-2024.06@nightly",
    ],
)
def test_uri_schemes_defaults_and_documentation_hosts_are_not_url_passwords(
    scanner: DlpScanner, text: str
) -> None:
    assert [t for t, _ in found(scanner, text) if t == "url_password"] == []


# -- assignments in every syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "type_"),
    [
        ('api_key: str = "{v}"', "generic_secret"),
        ("<apiKey>{v}</apiKey>", "generic_secret"),
        ('<add key="ApiKey" value="{v}"/>', "generic_secret"),
        ("- name: API_TOKEN\n  value: {v}", "generic_secret"),
        ('builder.apiKey("{v}")', "generic_secret"),
        ('client.setApiKey("{v}")', "generic_secret"),
        ("tool --api-key {v}", "generic_secret"),
        ("API key: {v}", "generic_secret"),
        ("export VAULT_TOKEN='{v}'", "generic_secret"),
        ("PGPASSWORD={v} psql -h db", "generic_password"),
        ("define('DB_PASSWORD', '{v}');", "generic_password"),
        ("storePassword '{v}'", "generic_password"),
        ("CREATE USER app IDENTIFIED BY '{v}';", "generic_password"),
        ("requests.get(url, auth=('admin', '{v}'))", "generic_password"),
        ("mysql -uroot -p'{v}' app", "generic_password"),
        ("sshpass -p '{v}' ssh deploy@host", "generic_password"),
        ("keytool -list -keystore k.jks -storepass {v}", "generic_password"),
        ("machine ftp.acme.io login backup password {v}", "generic_password"),
        ("Password={v};Encrypt=True", "generic_password"),
    ],
)
def test_assignment_syntaxes(scanner: DlpScanner, template: str, type_: str) -> None:
    value = "Xk29mQ7vLp2Tq8Zr" if type_ == "generic_secret" else "Xk29mQ7v&Lp2"
    assert found(scanner, template.format(v=value)) == [(type_, value)]


def test_a_quoted_value_keeps_its_punctuation_an_unquoted_one_stops_at_the_next_field(
    scanner: DlpScanner,
) -> None:
    assert found(scanner, 'password = "Xk2;9m&Q,7v"') == [("generic_password", "Xk2;9m&Q,7v")]
    assert found(scanner, "DB_PASSWORD=Xk29m&Q7vLp") == [("generic_password", "Xk29m&Q7vLp")]
    assert found(scanner, "user=sa;password=Xk29mQ7vLp;database=hr") == [("generic_password", "Xk29mQ7vLp")]
    assert found(scanner, "?user=root&password=Xk29mQ7vLp&useSSL=true") == [
        ("generic_password", "Xk29mQ7vLp")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "credentials:\n  accessKeyId: from-the-environment",  # YAML: a key's value on the next line is not its
        "if password == stored_password_hash123: return token",
        "The token is workspace-scoped: per request. The secret is optional: public clients skip it.",
        "the type identified by full_name.",
        "raise ValueError(\"Cannot pass 'force_download=True' when offline\")",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
        "kubectl create secret generic db --from-file=password=./db-password.txt",
        "machine example.com login anonymous password anonymous@",
        "api_key = 'test_api_key_123'\nSECRET_KEY = 'django-insecure-change-me'",
        "password: P@ssw0rd!\nadmin_password: S3cr3t123",
    ],
)
def test_prose_code_and_documentation_are_not_assignments(scanner: DlpScanner, text: str) -> None:
    assert found(scanner, text) == []


def test_validators() -> None:
    assert weak_password("P@ssw0rd!") and weak_password("password123") and weak_password("Welcome1")
    assert not weak_password("Xk29mQ7vLp")
    assert is_reference("settings.API_KEY") and is_reference("os.environ['X']") and is_reference("./key.pem")
    assert not is_reference("JFQdImtz.Hh4bQ8")  # a password with a dot in it, not `obj.attr`
    assert password_ok("Xk29mQ7vLp") and not password_ok("changeme") and not password_ok("short")


# -- redaction ----------------------------------------------------------------------------------------------


def test_redaction_keeps_json_valid_and_the_rest_of_the_value(scanner: DlpScanner) -> None:
    from palaryn_proxy.dlp import DlpConfig

    redact = DlpScanner(DlpConfig.from_mapping({"actions": {"secrets": "redact"}}))
    key_id, secret, pw = fake("aws_access_key_id", 11), fake("aws_secret_access_key", 11), fake("urlpass", 11)
    doc = {
        "a": f"[default]\naws_access_key_id={key_id}\naws_secret_access_key={secret}",
        "dsn": f"mysql://app:{pw}@db/x",
    }
    r = redact.scan_request(host="h", body=json.dumps(doc).encode(), content_type="application/json")
    assert r.redacted_body is not None
    out = json.loads(r.redacted_body)
    assert out["a"].endswith("aws_secret_access_key=[REDACTED:aws_secret_access_key]")
    assert out["dsn"] == "mysql://app:[REDACTED:url_password]@db/x"


# -- contracts with the prefilter (Hyperscan): truthful keywords, no back-references ------------------------


def _samples() -> list[str]:
    corpus = load_corpus("secrets_keyed.yaml")
    return [fill(p["text"]) for p in corpus["positives"]]


def test_every_match_of_a_detector_holds_one_of_its_keywords() -> None:
    """What a detector finds, its pattern matches in the same text, and that match holds a keyword."""
    checked = 0
    for text in _samples():
        view = TextView(text)
        for det in MINE:
            if det.key is not None or not any(True for _ in det.find(view)):
                continue
            source = text.lower() if det.lower else text
            m = det.pattern.search(source)
            assert m is not None, (det.type, det.pattern.pattern[:60], text[:60])
            got = m.group(0)
            holds = any(k in got for k in det.keywords) or any(k in got.lower() for k in det.ikeywords)
            if not (det.keywords or det.ikeywords):  # a trigger's detector: the trigger is in the match
                holds = det.trigger is not None and det.trigger.search(got) is not None
            assert holds, (det.type, got)
            checked += 1
    assert checked >= 100


def _backreferences(tree: Any) -> bool:
    for op, av in tree:
        if op in (C.GROUPREF, C.GROUPREF_EXISTS):
            return True
        subs: list[Any] = []
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            subs = [av[2]]
        elif op == C.SUBPATTERN:
            subs = [av[3]]
        elif op == C.BRANCH:
            subs = list(av[1])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            subs = [av[1]]
        elif op == C.ATOMIC_GROUP:
            subs = [av]
        if any(_backreferences(s) for s in subs):
            return True
    return False


def test_patterns_have_no_backreferences() -> None:
    patterns = [d.pattern for d in MINE] + [d.key for d in MINE if d.key is not None]
    bad = [p.pattern[:60] for p in patterns if _backreferences(P.parse(p.pattern, p.flags))]
    assert not bad
    assert not re.search(r"\(\?P=", secrets_keys.PEM_PRIVATE_KEY)
