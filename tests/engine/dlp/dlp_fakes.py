"""Deterministic fake credentials in each vendor's format, built at run time (no live-format literals in git)."""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import string
from collections.abc import Callable

from palaryn_proxy.dlp.validators import base62_encode

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "_-"
HEX = "0123456789abcdef"


def _s(r: random.Random, chars: str, n: int) -> str:
    return "".join(r.choice(chars) for _ in range(n))


def _checksummed(prefix: str) -> Callable[[random.Random], str]:
    def make(r: random.Random) -> str:
        body = _s(r, ALNUM, 30)
        return f"{prefix}_{body}{base62_encode(binascii.crc32(body.encode()), 6)}"

    return make


def _pem(kind: str, escaped: bool = False) -> Callable[[random.Random], str]:
    def make(r: random.Random) -> str:
        nl = "\\n" if escaped else "\n"
        body = nl.join(_s(r, B64, 64) for _ in range(12))
        return f"-----BEGIN {kind}-----{nl}{body}{nl}-----END {kind}-----"

    return make


def _jwt(r: random.Random) -> str:
    def enc(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {"sub": f"user-{r.randint(1000, 9999)}", "iat": 1717000000, "scope": "read write"}
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(payload)}.{_s(r, B64URL, 43)}"


def _discord(r: random.Random) -> str:
    snowflake = str(r.randint(10**17, 10**18 - 1)).encode()
    head = base64.urlsafe_b64encode(snowflake).decode().rstrip("=")
    return f"{head}.{_s(r, B64URL, 6)}.{_s(r, B64URL, 38)}"


def _uuid(r: random.Random) -> str:
    h = _s(r, HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


LIVE = "live"  # keeps vendor prefixes such as sk_live_ out of the source as literals
FAKES: dict[str, Callable[[random.Random], str]] = {
    "aws_access_key_id": lambda r: "AKIA" + _s(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    "aws_temp_key_id": lambda r: "ASIA" + _s(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    "aws_secret_access_key": lambda r: _s(r, B64, 40),
    "aws_session_token": lambda r: "IQoJb3JpZ2luX2Vj" + _s(r, B64, 380),
    "google_api_key": lambda r: "AIza" + _s(r, B64URL, 35),
    "google_oauth_token": lambda r: "ya29." + _s(r, B64URL, 120),
    "private_key": _pem("PRIVATE KEY"),
    "rsa_private_key": _pem("RSA PRIVATE KEY"),
    "private_key_escaped": _pem("PRIVATE KEY", escaped=True),
    "openssh_private_key": _pem("OPENSSH PRIVATE KEY"),
    "pgp_private_key": _pem("PGP PRIVATE KEY BLOCK"),
    "azure_storage_key": lambda r: _s(r, B64, 86) + "==",
    "azure_sas_sig": lambda r: _s(r, ALNUM, 43) + "%3D",
    "azure_service_bus_key": lambda r: _s(r, B64, 43) + "=",
    "azure_client_secret": lambda r: _s(r, ALNUM, 3) + "8Q~" + _s(r, ALNUM + "_-.", 34),
    "github_pat": _checksummed("ghp"),
    "github_oauth_token": _checksummed("gho"),
    "github_user_token": _checksummed("ghu"),
    "github_app_token": _checksummed("ghs"),
    "github_refresh_token": _checksummed("ghr"),
    "github_fine_grained_pat": lambda r: "github_pat_" + _s(r, ALNUM, 22) + "_" + _s(r, ALNUM, 59),
    "gitlab_pat": lambda r: "glpat-" + _s(r, B64URL, 20),
    "gitlab_runner_token": lambda r: "glrt-" + _s(r, B64URL, 20),
    "npm_token": _checksummed("npm"),
    "pypi_token": lambda r: "pypi-AgEIcHlwaS5vcmc" + _s(r, B64URL, 140),
    "docker_hub_token": lambda r: "dckr_pat_" + _s(r, B64URL, 27),
    "huggingface_token": lambda r: "hf_" + _s(r, string.ascii_letters, 34),
    "slack_bot_token": lambda r: (
        f"xoxb-{_s(r, string.digits, 12)}-{_s(r, string.digits, 13)}-{_s(r, ALNUM, 24)}"
    ),
    "slack_user_token": lambda r: (
        f"xoxp-{_s(r, string.digits, 12)}-{_s(r, string.digits, 12)}-"
        f"{_s(r, string.digits, 13)}-{_s(r, HEX, 32)}"
    ),
    "slack_app_token": lambda r: (
        f"xapp-1-A{_s(r, string.ascii_uppercase + string.digits, 10)}-"
        f"{_s(r, string.digits, 13)}-{_s(r, HEX, 64)}"
    ),
    "slack_webhook_path": lambda r: (
        f"T{_s(r, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 8)}/"
        f"B{_s(r, 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', 10)}/{_s(r, ALNUM, 24)}"
    ),
    "stripe_secret_key": lambda r: f"sk_{LIVE}_" + _s(r, ALNUM, 99),
    "stripe_restricted_key": lambda r: f"rk_{LIVE}_" + _s(r, ALNUM, 99),
    "stripe_webhook_secret": lambda r: "whsec_" + _s(r, ALNUM, 32),
    "twilio_api_key": lambda r: "SK" + _s(r, HEX, 32),
    "hex32": lambda r: _s(r, HEX, 32),
    "hex40": lambda r: _s(r, HEX, 40),
    "sendgrid_api_key": lambda r: "SG." + _s(r, B64URL, 22) + "." + _s(r, B64URL, 43),
    "mailgun_api_key": lambda r: "key-" + _s(r, HEX, 32),
    "mailgun_private_key": lambda r: f"{_s(r, HEX, 32)}-{_s(r, HEX, 8)}-{_s(r, HEX, 8)}",
    "shopify_token": lambda r: "shpat_" + _s(r, HEX, 32),
    "discord_bot_token": _discord,
    "discord_webhook_path": lambda r: f"{r.randint(10**17, 10**18 - 1)}/{_s(r, B64URL, 68)}",
    "telegram_bot_token": lambda r: f"{r.randint(10**8, 10**9 - 1)}:AA{_s(r, B64URL, 33)}",
    "heroku_api_key": lambda r: "HRKU-" + _uuid(r),
    "uuid": _uuid,
    "openai_project_key": lambda r: "sk-proj-" + _s(r, B64URL, 74) + "T3BlbkFJ" + _s(r, B64URL, 74),
    "openai_service_account_key": lambda r: (
        "sk-svcacct-" + _s(r, B64URL, 74) + "T3BlbkFJ" + _s(r, B64URL, 74)
    ),
    "openai_admin_key": lambda r: "sk-admin-" + _s(r, B64URL, 74) + "T3BlbkFJ" + _s(r, B64URL, 74),
    "openai_user_key": lambda r: "sk-" + _s(r, ALNUM, 20) + "T3BlbkFJ" + _s(r, ALNUM, 20),
    "anthropic_api_key": lambda r: "sk-ant-api03-" + _s(r, B64URL, 93) + "AA",
    "anthropic_admin_key": lambda r: "sk-ant-admin01-" + _s(r, B64URL, 93) + "AA",
    "jwt": _jwt,
    "password": lambda r: _s(r, ALNUM, 6) + r.choice("!#%&*") + _s(r, ALNUM, 7),
}


def fake(name: str, seed: int = 0) -> str:
    """The fake value `name` (seeded by name and seed, so every run sees the same corpus)."""
    base, _, variant = name.partition("#")
    return FAKES[base](random.Random(f"{base}:{variant}:{seed}"))


_SLOT = re.compile(r"\{\{([a-z0-9_#]+)(?:\|([a-z0-9]+))?\}\}")
_MODIFIERS: dict[str, Callable[[str], str]] = {
    "b64": lambda v: base64.b64encode(v.encode()).decode(),  # as a Kubernetes Secret shows it
    "tail4": lambda v: v[4:],  # the corpus text spells the prefix itself (escaped, full-width)
    "zw": lambda v: "\u200b".join(v[i : i + 5] for i in range(0, len(v), 5)),  # zero-width spaces inside
}


def fill(template: str, seed: int = 0) -> str:
    """Replace every `{{name}}`, `{{name#variant}}` or `{{name|modifier}}` with its fake value."""

    def one(m: re.Match[str]) -> str:
        value = fake(m.group(1), seed)
        return _MODIFIERS[m.group(2)](value) if m.group(2) else value

    return _SLOT.sub(one, template)
