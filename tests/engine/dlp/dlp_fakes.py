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
    # secrets without a vendor format (secrets_keyed.yaml)
    "urlpass": lambda r: _s(r, ALNUM, 8) + r.choice("-_.~!*") + _s(r, ALNUM, 6),  # no URL delimiter in it
    "api_key": lambda r: _s(r, ALNUM, 32),
    "opaque_token": lambda r: _s(r, B64URL, 43),
    "basic_auth": lambda r: base64.b64encode(
        f"{r.choice(['deploy', 'ci-bot', 'jenkins', 'svc_reports'])}:{_s(r, ALNUM, 8)}{r.choice('!#%&*-')}{_s(r, ALNUM, 5)}".encode()
    ).decode(),
    "pem_b64": lambda r: base64.b64encode(_pem("RSA PRIVATE KEY")(r).encode()).decode(),
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


# -- vendor formats of secrets_vendors_* ----------------------------------------------------------------------

UPPER36 = string.ascii_uppercase + string.digits
LOWER36 = string.ascii_lowercase + string.digits
DIGITS = string.digits


def _p(prefix: str, chars: str, n: int, suffix: str = "") -> Callable[[random.Random], str]:
    return lambda r: prefix + _s(r, chars, n) + suffix


def _b64json(obj: dict[str, object], urlsafe: bool = False) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode().rstrip("=")


def _bedrock(r: random.Random) -> str:
    raw = f"BedrockAPIKey-{_s(r, LOWER36, 4)}-at-{_s(r, DIGITS, 12)}:{_s(r, B64, 60)}"
    return "ABSK" + base64.b64encode(raw.encode()).decode()


def _bedrock_short(r: random.Random) -> str:
    url = (
        "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
        f"{_s(r, UPPER36, 20)}%2F20250101%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Date=20250101T000000Z"
        f"&X-Amz-Expires=43200&X-Amz-Security-Token={_s(r, B64URL, 200)}&X-Amz-Signature={_s(r, HEX, 64)}&Version=1"
    )
    return "bedrock-api-key-" + base64.b64encode(url.encode()).decode().rstrip("=")


def _mapbox(kind: str) -> Callable[[random.Random], str]:
    return lambda r: (
        f"{kind}."
        + _b64json({"u": "acme-maps", "a": _s(r, LOWER36, 25)}, urlsafe=True)
        + "."
        + _s(r, B64URL, 22)
    )


def _onepassword_sa(r: random.Random) -> str:
    doc = {
        "signInAddress": "acme.1password.com",
        "userAuth": {
            "method": "SRPg-4096",
            "alg": "PBES2g-HS256",
            "iterations": 650000,
            "salt": _s(r, B64URL, 22),
        },
        "email": f"{_s(r, LOWER36, 13)}@1passwordserviceaccounts.com",
        "srpX": _s(r, HEX, 64),
        "muk": {"alg": "A256GCM", "ext": True, "k": _s(r, B64URL, 43), "kty": "oct"},
        "deviceUuid": _s(r, LOWER36, 26),
    }
    return "ops_" + _b64json(doc)


def _sentry_org(r: random.Random) -> str:
    payload = {
        "iat": 1717000000.5,
        "url": "https://sentry.io",
        "region_url": "https://us.sentry.io",
        "org": f"acme-{_s(r, LOWER36, 4)}",
    }
    return "sntrys_" + _b64json(payload) + "_" + _s(r, ALNUM, 43)


def _salesforce(r: random.Random) -> str:
    return "00D" + _s(r, ALNUM, 12) + "!" + _s(r, ALNUM + "._", 95) + _s(r, ALNUM, 1)


def _twitter_bearer(r: random.Random) -> str:
    tail = f"{_s(r, ALNUM, 4)}AAAAAAAA{_s(r, ALNUM, 2)}%2B{_s(r, ALNUM, 12)}%3D{_s(r, ALNUM, 50)}"
    return "A" * 22 + tail


def _teams_path(r: random.Random) -> str:
    return f"{_uuid(r)}@{_uuid(r)}/IncomingWebhook/{_s(r, HEX, 32)}/{_uuid(r)}/V2{_s(r, B64URL, 40)}"


def _onepassword_key(r: random.Random) -> str:
    return "A3-" + "-".join(_s(r, UPPER36, n) for n in (6, 6, 5, 5, 5, 5))


FAKES.update(
    {
        # AI providers
        "groq_api_key": _p("gsk_", ALNUM, 52),
        "replicate_api_token": _p("r8_", ALNUM, 37),
        "perplexity_api_key": _p("pplx-", ALNUM, 48),
        "xai_api_key": _p("xai-", ALNUM, 80),
        "openrouter_api_key": _p("sk-or-v1-", HEX, 64),
        "langsmith_api_key": lambda r: f"lsv2_pt_{_s(r, HEX, 32)}_{_s(r, HEX, 10)}",
        "langsmith_service_key": lambda r: f"lsv2_sk_{_s(r, HEX, 32)}_{_s(r, HEX, 10)}",
        "pinecone_api_key": lambda r: f"pcsk_{_s(r, ALNUM, 5)}_{_s(r, ALNUM, 63)}",
        "nvidia_api_key": _p("nvapi-", B64URL, 64),
        "together_api_key": _p("tgp_v1_", B64URL, 43),
        "hex64": _p("", HEX, 64),
        "tavily_api_key": _p("tvly-dev-", ALNUM, 32),
        "firecrawl_api_key": _p("fc-", HEX, 32),
        "aws_bedrock_api_key": _bedrock,
        "aws_bedrock_short_key": _bedrock_short,
        "deepseek_api_key": _p("sk-", HEX, 32),
        "alnum24": _p("", ALNUM, 24),
        "alnum32": _p("", ALNUM, 32),
        "alnum40": _p("", ALNUM, 40),
        "alnum64": _p("", ALNUM, 64),
        "b64url32": _p("", B64URL, 32),
        "b64url40": _p("", B64URL, 40),
        "b64url43": _p("", B64URL, 43),
        "b64url64": _p("", B64URL, 64),
        "fireworks_api_key": _p("fw_", ALNUM, 24),
        "elevenlabs_api_key": _p("sk_", HEX, 48),
        # developer platforms
        "digitalocean_pat": _p("dop_v1_", HEX, 64),
        "digitalocean_oauth_token": _p("doo_v1_", HEX, 64),
        "digitalocean_refresh_token": _p("dor_v1_", HEX, 64),
        "vault_token": _p("hvs.", B64URL, 91),
        "vault_batch_token": _p("hvb.", B64URL, 150),
        "terraform_cloud_token": lambda r: f"{_s(r, ALNUM, 14)}.atlasv1.{_s(r, ALNUM, 67)}",
        "doppler_token": _p("dp.pt.", ALNUM, 43),
        "doppler_service_token": _p("dp.st.prd.", ALNUM, 40),
        "grafana_api_key": lambda r: _b64json({"k": _s(r, ALNUM, 32), "n": "ci-deploy", "id": 1}),
        "grafana_cloud_token": lambda r: (
            "glc_"
            + _b64json(
                {
                    "o": _s(r, DIGITS, 6),
                    "n": "stack-writer",
                    "k": _s(r, ALNUM, 24),
                    "m": {"r": "prod-us-east-0"},
                }
            )
        ),
        "grafana_service_account_token": lambda r: f"glsa_{_s(r, ALNUM, 32)}_{_s(r, HEX, 8)}",
        "databricks_token": _p("dapi", HEX, 32),
        "atlassian_api_token": lambda r: f"ATATT3xFfGF0{_s(r, B64URL, 172)}={_s(r, HEX.upper()[:16], 8)}",
        "bitbucket_app_password": _p("ATBB", ALNUM, 32),
        "linear_api_key": _p("lin_api_", ALNUM, 40),
        "sentry_user_token": _p("sntryu_", HEX, 64),
        "sentry_org_token": _sentry_org,
        "postman_api_key": lambda r: f"PMAK-{_s(r, HEX, 24)}-{_s(r, HEX, 34)}",
        "pulumi_access_token": _p("pul-", HEX, 40),
        "rubygems_api_key": _p("rubygems_", HEX, 48),
        "readme_api_key": _p("rdme_", LOWER36, 70),
        "prefect_api_key": _p("pnu_", ALNUM, 36),
        "planetscale_token": _p("pscale_tkn_", ALNUM, 43),
        "planetscale_password": _p("pscale_pw_", ALNUM, 43),
        "clojars_api_token": _p("CLOJARS_", LOWER36, 60),
        "infracost_api_key": _p("ico-", ALNUM, 32),
        "scalingo_api_token": _p("tk-us-", B64URL, 48),
        "dynatrace_token": lambda r: f"dt0c01.{_s(r, UPPER36, 24)}.{_s(r, UPPER36, 64)}",
        "artifactory_api_key": _p("AKCp", ALNUM, 69),
        "artifactory_reference_token": _p("cmVmdGtu", ALNUM, 56),
        "flyio_token": _p("fm2_", B64, 240),
        "harness_api_key": lambda r: f"pat.{_s(r, B64URL, 22)}.{_s(r, ALNUM, 24)}.{_s(r, ALNUM, 20)}",
        "openshift_user_token": _p("sha256~", B64URL, 43),
        "sourcegraph_token": lambda r: f"sgp_{_s(r, HEX, 16)}_{_s(r, HEX, 40)}",
        "sonarqube_token": _p("squ_", HEX, 40),
        "circleci_token": lambda r: f"CCIPAT_{_s(r, ALNUM, 22)}_{_s(r, HEX, 40)}",
        "buildkite_token": _p("bkua_", LOWER36, 40),
        "tailscale_key": lambda r: f"tskey-auth-k{_s(r, ALNUM, 10)}CNTRL-{_s(r, ALNUM, 33)}",
        "deno_deploy_token": _p("ddp_", ALNUM, 36),
        "supabase_token": _p("sbp_", HEX, 40),
        "supabase_secret_key": _p("sb_secret_", B64URL, 31),
        "render_api_key": _p("rnd_", ALNUM, 32),
        "netlify_token": _p("nfp_", ALNUM, 36),
        "nuget_api_key": _p("oy2", LOWER36, 43),
        "newrelic_user_api_key": _p("NRAK-", UPPER36, 27),
        "newrelic_insert_key": _p("NRII-", B64URL, 32),
        "newrelic_browser_key": _p("NRJS-", HEX, 19),
        "newrelic_rest_api_key": _p("NRRA-", HEX, 42),
        "newrelic_license_key": _p("", HEX, 36, "NRAL"),
        "onepassword_secret_key": _onepassword_key,
        "onepassword_service_account_token": _onepassword_sa,
        "age_secret_key": _p("AGE-SECRET-KEY-1", "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58),
        "octopus_deploy_api_key": _p("API-", UPPER36, 26),
        "defined_networking_token": lambda r: f"dnkey-{_s(r, ALNUM, 26)}-{_s(r, ALNUM, 52)}",
        "maxmind_license_key": lambda r: f"{_s(r, ALNUM, 6)}_{_s(r, ALNUM, 29)}_mmk",
        "clickhouse_cloud_secret": _p("4b1d", ALNUM, 38),
        "okta_api_token": _p("00", B64URL, 40),
        "azure_devops_pat": _p("", "abcdefghijklmnopqrstuvwxyz234567", 52),
        "sidekiq_secret": lambda r: f"{_s(r, HEX, 8)}:{_s(r, HEX, 8)}",
        # business SaaS, payments, social
        "adobe_client_secret": _p("p8e-", ALNUM, 32),
        "airtable_pat": lambda r: f"pat{_s(r, ALNUM, 14)}.{_s(r, HEX, 64)}",
        "alibaba_access_key_id": _p("LTAI", ALNUM, 20),
        "alnum30": _p("", ALNUM, 30),
        "contentful_pat": _p("CFPAT-", B64URL, 43),
        "hubspot_access_token": lambda r: "pat-na1-" + _uuid(r),
        "notion_token": lambda r: "ntn_" + _s(r, DIGITS, 11) + _s(r, ALNUM, 35),
        "notion_legacy_token": _p("secret_", ALNUM, 43),
        "mailchimp_api_key": _p("", HEX, 32, "-us12"),
        "brevo_api_key": lambda r: f"xkeysib-{_s(r, HEX, 64)}-{_s(r, ALNUM, 16)}",
        "mapbox_secret_token": _mapbox("sk"),
        "mapbox_public_token": _mapbox("pk"),
        "dropbox_token": _p("sl.", B64URL, 138),
        "dropbox_long_lived": lambda r: _s(r, ALNUM, 11) + "AAAAAAAAAA" + _s(r, B64URL, 43),
        "square_access_token": _p("EAAA", B64URL, 60),
        "square_sq0atp": _p("sq0atp-", B64URL, 22),
        "square_oauth_secret": _p("sq0csp-", B64URL, 43),
        "facebook_access_token": _p("EAAG", ALNUM, 180),
        "twitter_bearer_token": _twitter_bearer,
        "alnum50": _p("", ALNUM, 50),
        "twitter_access_token": lambda r: f"{_s(r, DIGITS, 19)}-{_s(r, ALNUM, 30)}",
        "shippo_api_token": lambda r: f"shippo_{LIVE}_{_s(r, HEX, 40)}",
        "easypost_api_key": _p("EZAK", ALNUM, 54),
        "duffel_token": _p("duffel_test_", B64URL, 43),
        "flutterwave_secret_key": _p("FLWSECK-", HEX, 32, "-X"),
        "frameio_token": _p("fio-u-", B64URL, 64),
        "typeform_token": lambda r: f"tfp_{_s(r, ALNUM, 44)}_{_s(r, ALNUM, 14)}",
        "yandex_api_key": _p("AQVN", B64URL, 36),
        "yandex_iam_token": lambda r: f"t1.{_s(r, B64URL, 120)}.{_s(r, B64URL, 86)}",
        "yandex_access_key_secret": _p("YC", B64URL, 38),
        "plaid_access_token": lambda r: "access-sandbox-" + _uuid(r),
        "salesforce_access_token": _salesforce,
        "figma_pat": _p("figd_", B64URL, 40),
        "posthog_personal_api_key": _p("phx_", ALNUM, 43),
        "resend_api_key": lambda r: f"re_{_s(r, ALNUM, 8)}_{_s(r, ALNUM, 24)}",
        "clickup_api_token": lambda r: f"pk_{_s(r, DIGITS, 8)}_{_s(r, UPPER36, 32)}",
        "teams_webhook_path": _teams_path,
        "asana_pat": lambda r: f"2/{_s(r, DIGITS, 16)}/{_s(r, DIGITS, 16)}:{_s(r, HEX, 32)}",
        "beamer_api_key": _p("b_", B64URL, 44),
        "intercom_access_token": _p("dG9rO", ALNUM, 54, "="),
        "alnum25": _p("", ALNUM, 25),
        "gocardless_token": _p(f"{LIVE}_", B64URL, 40),
        "b64_64": _p("", B64, 64),
        "hex37": _p("", HEX, 37),
        "cloudflare_origin_ca_key": lambda r: f"v1.0-{_s(r, HEX, 24)}-{_s(r, HEX, 146)}",
        "lower30": _p("", LOWER36, 30),
        "launchdarkly_key": lambda r: "sdk-" + _uuid(r),
        "pagerduty_api_key": _p("u+", B64URL, 18),
        "lob_api_key": _p(f"{LIVE}_", HEX, 35),
    }
)
