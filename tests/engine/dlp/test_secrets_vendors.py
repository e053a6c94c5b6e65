"""The vendor detectors (secrets_vendors_*): every type found in context, look-alikes left alone, credentials
bound to their vendor's API host, and scans that stay linear on a hostile repetition of each prefix."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from re import _parser as P  # type: ignore[attr-defined]

import pytest
from dlp_fakes import fake, fill

from palaryn_proxy.dlp import DlpConfig, DlpScanner, secrets_vendors
from palaryn_proxy.dlp.registry import ALL_DETECTORS
from palaryn_proxy.dlp.secrets_vendors_base import TOKEN_CHARS

VENDOR_TYPES = sorted({d.type for d in secrets_vendors.DETECTORS})

# Fake value -> its type, for the types recognised by their own format (a prefix, a literal inside).
TOKENS: dict[str, str] = {
    "groq_api_key": "groq_api_key",
    "replicate_api_token": "replicate_api_token",
    "perplexity_api_key": "perplexity_api_key",
    "xai_api_key": "xai_api_key",
    "openrouter_api_key": "openrouter_api_key",
    "langsmith_api_key": "langsmith_api_key",
    "langsmith_service_key": "langsmith_api_key",
    "pinecone_api_key": "pinecone_api_key",
    "nvidia_api_key": "nvidia_api_key",
    "together_api_key": "together_api_key",
    "tavily_api_key": "tavily_api_key",
    "firecrawl_api_key": "firecrawl_api_key",
    "aws_bedrock_api_key": "aws_bedrock_api_key",
    "aws_bedrock_short_key": "aws_bedrock_api_key",
    "digitalocean_pat": "digitalocean_pat",
    "digitalocean_oauth_token": "digitalocean_oauth_token",
    "digitalocean_refresh_token": "digitalocean_refresh_token",
    "vault_token": "vault_token",
    "vault_batch_token": "vault_token",
    "terraform_cloud_token": "terraform_cloud_token",
    "doppler_token": "doppler_token",
    "doppler_service_token": "doppler_token",
    "grafana_api_key": "grafana_api_key",
    "grafana_cloud_token": "grafana_cloud_token",
    "grafana_service_account_token": "grafana_service_account_token",
    "databricks_token": "databricks_token",
    "atlassian_api_token": "atlassian_api_token",
    "bitbucket_app_password": "bitbucket_app_password",
    "linear_api_key": "linear_api_key",
    "sentry_user_token": "sentry_user_token",
    "sentry_org_token": "sentry_org_token",
    "postman_api_key": "postman_api_key",
    "pulumi_access_token": "pulumi_access_token",
    "rubygems_api_key": "rubygems_api_key",
    "readme_api_key": "readme_api_key",
    "prefect_api_key": "prefect_api_key",
    "planetscale_token": "planetscale_token",
    "planetscale_password": "planetscale_password",
    "clojars_api_token": "clojars_api_token",
    "infracost_api_key": "infracost_api_key",
    "scalingo_api_token": "scalingo_api_token",
    "dynatrace_token": "dynatrace_token",
    "artifactory_api_key": "artifactory_api_key",
    "artifactory_reference_token": "artifactory_reference_token",
    "flyio_token": "flyio_token",
    "harness_api_key": "harness_api_key",
    "openshift_user_token": "openshift_user_token",
    "sourcegraph_token": "sourcegraph_token",
    "sonarqube_token": "sonarqube_token",
    "circleci_token": "circleci_token",
    "buildkite_token": "buildkite_token",
    "tailscale_key": "tailscale_key",
    "deno_deploy_token": "deno_deploy_token",
    "supabase_token": "supabase_token",
    "supabase_secret_key": "supabase_token",
    "render_api_key": "render_api_key",
    "netlify_token": "netlify_token",
    "nuget_api_key": "nuget_api_key",
    "newrelic_user_api_key": "newrelic_user_api_key",
    "newrelic_insert_key": "newrelic_insert_key",
    "newrelic_browser_key": "newrelic_browser_key",
    "newrelic_rest_api_key": "newrelic_rest_api_key",
    "newrelic_license_key": "newrelic_license_key",
    "onepassword_secret_key": "onepassword_secret_key",
    "onepassword_service_account_token": "onepassword_service_account_token",
    "age_secret_key": "age_secret_key",
    "octopus_deploy_api_key": "octopus_deploy_api_key",
    "defined_networking_token": "defined_networking_token",
    "maxmind_license_key": "maxmind_license_key",
    "clickhouse_cloud_secret": "clickhouse_cloud_secret",
    "adobe_client_secret": "adobe_client_secret",
    "airtable_pat": "airtable_pat",
    "alibaba_access_key_id": "alibaba_access_key_id",
    "contentful_pat": "contentful_pat",
    "hubspot_access_token": "hubspot_access_token",
    "notion_token": "notion_token",
    "notion_legacy_token": "notion_token",
    "mailchimp_api_key": "mailchimp_api_key",
    "brevo_api_key": "brevo_api_key",
    "mapbox_secret_token": "mapbox_secret_token",
    "mapbox_public_token": "mapbox_public_token",
    "dropbox_token": "dropbox_token",
    "square_access_token": "square_access_token",
    "square_sq0atp": "square_access_token",
    "square_oauth_secret": "square_oauth_secret",
    "facebook_access_token": "facebook_access_token",
    "twitter_bearer_token": "twitter_bearer_token",
    "shippo_api_token": "shippo_api_token",
    "easypost_api_key": "easypost_api_key",
    "duffel_token": "duffel_token",
    "flutterwave_secret_key": "flutterwave_secret_key",
    "frameio_token": "frameio_token",
    "typeform_token": "typeform_token",
    "yandex_api_key": "yandex_api_key",
    "yandex_iam_token": "yandex_iam_token",
    "plaid_access_token": "plaid_access_token",
    "salesforce_access_token": "salesforce_access_token",
    "figma_pat": "figma_pat",
    "posthog_personal_api_key": "posthog_personal_api_key",
    "resend_api_key": "resend_api_key",
    "clickup_api_token": "clickup_api_token",
    "cloudflare_origin_ca_key": "cloudflare_origin_ca_key",
}

# Types trusted only next to their vendor's name: (type, text with `{{fake}}` slots).
NAMED: list[tuple[str, str]] = [
    ("pinecone_api_key", "PINECONE_API_KEY={{uuid}}"),
    ("together_api_key", "together_api_key: {{hex64}}"),
    ("deepseek_api_key", "DEEPSEEK_API_KEY={{deepseek_api_key}}"),
    ("mistral_api_key", "export MISTRAL_API_KEY='{{alnum32}}'"),
    ("cohere_api_key", "CO_API_KEY={{alnum40}}"),
    ("cohere_api_key", 'cohere: {"api_key": "{{alnum40}}"}'),
    ("azure_openai_api_key", "AZURE_OPENAI_KEY = {{hex32}}"),
    ("fireworks_api_key", "FIREWORKS_API_KEY={{fireworks_api_key}}"),
    ("elevenlabs_api_key", "xi-api-key: {{elevenlabs_api_key}}"),
    ("assemblyai_api_key", "assemblyai.settings.api_key = '{{hex32}}'"),
    ("deepgram_api_key", "DEEPGRAM_API_KEY={{hex40}}"),
    ("wandb_api_key", "WANDB_API_KEY={{hex40}}"),
    ("atlassian_api_token", "confluence_token: {{alnum24}}"),
    ("bitbucket_client_secret", "BITBUCKET_OAUTH_SECRET={{alnum32}}"),
    ("sentry_user_token", "SENTRY_AUTH_TOKEN={{hex64}}"),
    ("netlify_token", "NETLIFY_AUTH_TOKEN={{b64url43}}"),
    ("dropbox_token", "dropbox_token = '{{dropbox_long_lived}}'"),
    ("vercel_token", "VERCEL_TOKEN={{alnum24}}"),
    ("okta_api_token", "okta:\n  token: {{okta_api_token}}"),
    ("codecov_token", "CODECOV_TOKEN={{uuid}}"),
    ("snyk_api_token", "snyk_token: {{uuid}}"),
    ("sumologic_access_key", "SUMO_ACCESS_KEY={{alnum64}}"),
    ("azure_devops_pat", "AZDO_PAT={{azure_devops_pat}}"),
    ("sidekiq_secret", "BUNDLE_GEMS__CONTRIBSYS__COM={{sidekiq_secret}}"),
    ("sidekiq_secret", "https://{{sidekiq_secret}}@gems.contribsys.com/"),
    ("alibaba_secret_key", "ALIBABA_CLOUD_ACCESS_KEY_SECRET={{alnum30}}"),
    ("contentful_delivery_token", "CONTENTFUL_ACCESS_TOKEN={{b64url43}}"),
    ("hubspot_api_key", "HUBSPOT_API_KEY={{uuid}}"),
    ("facebook_app_secret", "FB_APP_SECRET={{hex32}}"),
    ("twitter_api_secret", "TWITTER_CONSUMER_SECRET={{alnum50}}"),
    ("twitter_access_token", "twitter_access_token: {{twitter_access_token}}"),
    ("yandex_access_key_secret", "YC_SECRET_KEY={{yandex_access_key_secret}}"),
    ("plaid_secret", "PLAID_SECRET={{lower30}}"),
    ("asana_pat", "asana_token = '{{asana_pat}}'"),
    ("asana_client_secret", "ASANA_CLIENT_SECRET={{alnum32}}"),
    ("beamer_api_key", "BEAMER_API_KEY={{beamer_api_key}}"),
    ("intercom_access_token", "INTERCOM_TOKEN={{intercom_access_token}}"),
    ("messagebird_api_key", "message_bird_key: {{alnum25}}"),
    ("gocardless_token", "GOCARDLESS_TOKEN={{gocardless_token}}"),
    ("coinbase_api_secret", "COINBASE_SECRET={{b64url64}}"),
    ("confluent_api_secret", "CONFLUENT_CLOUD_API_SECRET={{b64_64}}"),
    ("cloudflare_api_token", "CF_API_TOKEN={{b64url40}}"),
    ("cloudflare_global_api_key", "CLOUDFLARE_API_KEY={{hex37}}"),
    ("fastly_api_token", "FASTLY_KEY={{b64url32}}"),
    ("twitch_api_token", "TWITCH_TOKEN={{lower30}}"),
    ("zendesk_api_token", "zendesk_api_token: {{alnum40}}"),
    ("launchdarkly_key", "LD_SDK_KEY={{launchdarkly_key}}"),
    ("pagerduty_api_key", "PAGERDUTY_API_KEY={{pagerduty_api_key}}"),
    ("postmark_server_token", "POSTMARK_API_TOKEN={{uuid}}"),
    ("algolia_admin_key", "ALGOLIA_ADMIN_API_KEY={{hex32}}"),
    ("auth0_client_secret", "AUTH0_CLIENT_SECRET={{b64url64}}"),
    ("lob_api_key", "LOB_API_KEY={{lob_api_key}}"),
]

# Look-alikes that must not be reported as `type`: (type, text).
LOOKALIKES: list[tuple[str, Callable[[], str]]] = [
    ("square_access_token", lambda: "EAAA" + fake("b64url64")[:61]),  # 65 characters, not 64
    ("facebook_access_token", lambda: "EAAG" + fake("alnum64")),  # too short for a Graph API token
    ("openrouter_api_key", lambda: "sk-or-v1-" + fake("hex64").upper()),  # lower-case hex only
    ("hubspot_access_token", lambda: "pat-xx1-" + fake("uuid")),  # unknown region
    ("mailchimp_api_key", lambda: fake("hex32") + "-us123"),
    ("mailchimp_api_key", lambda: fake("hex32")[:31] + "-us12"),
    ("mailchimp_api_key", lambda: "x_" + fake("mailchimp_api_key")),
    ("terraform_cloud_token", lambda: fake("alnum24")[:13] + ".atlasv1." + fake("alnum64")),
    ("newrelic_license_key", lambda: fake("hex40")[:35] + "NRAL"),
    ("maxmind_license_key", lambda: fake("alnum40")[:36] + "_mmk"),  # no `_` after the first six
    ("clickhouse_cloud_secret", lambda: "4b1d" + fake("hex40")[:38]),  # a hex digest
    ("octopus_deploy_api_key", lambda: "API-DOCUMENTATIONREFERENCEGUIDE"[:30]),
    ("twitter_bearer_token", lambda: "A" * 22 + "AbAbAbAbAb" * 8),  # low entropy after the A's
    ("age_secret_key", lambda: fake("age_secret_key").lower()),
    ("onepassword_secret_key", lambda: fake("onepassword_secret_key").lower()),
    ("onepassword_service_account_token", lambda: "ops_eyJ" + fake("alnum64")),  # far too short
    ("sidekiq_secret", lambda: f"https://{fake('sidekiq_secret')}@gems.example.com/"),
    (
        "teams_webhook_url",
        lambda: f"https://acme.webhook.office.com/webhookb2/{fake('uuid')}/IncomingWebhook/",
    ),
    ("vault_token", lambda: "hvs." + fake("alnum40")),  # shorter than any Vault 1.10+ token
    ("databricks_token", lambda: "dapi" + fake("hex32").upper()),
    ("yandex_iam_token", lambda: "t1." + fake("b64url64") + "." + fake("b64url64")),
    ("dropbox_token", lambda: "sl." + fake("b64url64")),
    ("dynatrace_token", lambda: "dt0c01." + fake("alnum24") + "." + fake("alnum40")),
    # named values: no vendor name, no key word, the name inside a longer word, the wrong length
    ("snyk_api_token", lambda: f"API_TOKEN={fake('uuid')}"),
    ("okta_api_token", lambda: f"OKTA_DOMAIN={fake('okta_api_token')}"),
    ("okta_api_token", lambda: f"bazookta_token={fake('okta_api_token')}"),
    ("mistral_api_key", lambda: f"MISTRAL_API_KEY={fake('alnum40')}"),
    ("deepseek_api_key", lambda: f"my key is {fake('deepseek_api_key')}"),
    ("azure_openai_api_key", lambda: f"AZURE_OPENAI_DEPLOYMENT={fake('hex32')}"),
    ("vercel_token", lambda: "VERCEL_TOKEN=componentsbuttonvariants"),  # an identifier, one class
    ("dropbox_token", lambda: "DROPBOX_TOKEN=" + fake("alnum24")[:11] + "A" * 10 + "x" * 43),
]


@pytest.fixture(scope="module")
def scan() -> Callable[..., list[tuple[str, str]]]:
    scanner = DlpScanner(DlpConfig.from_mapping({}))

    def run(text: str, content_type: str = "text/plain") -> list[tuple[str, str]]:
        body = text.encode()
        result = scanner.scan_request(host="tools.example.net", body=body, content_type=content_type)
        return [(f.type, body[f.start : f.end].decode()) for f in result.findings]

    return run


def _token_detectors(type_: str) -> list:
    return [d for d in secrets_vendors.DETECTORS if d.type == type_ and (d.anchors or d.finder)]


def test_every_vendor_type_is_tested_and_new() -> None:
    assert {*TOKENS.values(), *(t for t, _ in NAMED), "teams_webhook_url"} == set(VENDOR_TYPES)
    assert len(VENDOR_TYPES) >= 120
    vendor_ids = {id(d) for d in secrets_vendors.DETECTORS}
    others = {d.type for d in ALL_DETECTORS if id(d) not in vendor_ids}
    assert not others & set(VENDOR_TYPES)


@pytest.mark.parametrize("name", sorted(TOKENS))
@pytest.mark.parametrize(
    "template",
    ["{}", "key: {}\n", 'token = "{}";', "line one\n{}", "curl -H 'Authorization: Bearer {}' https://x.io"],
    ids=["bare", "yaml", "quoted", "line-start", "header"],
)
def test_token_found_in_context(scan: Callable[..., list[tuple[str, str]]], name: str, template: str) -> None:
    value = fake(name, 3)
    assert (TOKENS[name], value) in scan(template.format(value))


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_token_in_json_and_prose(scan: Callable[..., list[tuple[str, str]]], name: str) -> None:
    value = fake(name, 4)
    doc = json.dumps({"messages": [{"role": "user", "content": f"It fails with {value}. Why?"}]})
    assert (TOKENS[name], value) in scan(doc, "application/json")


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_token_look_alikes_are_not_found(scan: Callable[..., list[tuple[str, str]]], name: str) -> None:
    type_, value = TOKENS[name], fake(name, 5)
    shortest = min(P.parse(d.pattern.pattern).getwidth()[0] for d in _token_detectors(type_))
    fixed = all(len(set(P.parse(d.pattern.pattern).getwidth())) == 1 for d in _token_detectors(type_))
    alikes = {
        "glued": "a" + value,
        "placeholder": value[:8] + re.sub("[A-Za-z0-9]", "x", value[8:]),
        "too short": value[: shortest - 1],
    }
    if fixed and len(value) == shortest:
        alikes["too long"] = value + ("a" if value[-1] in TOKEN_CHARS else "")
    for what, text in alikes.items():
        assert type_ not in {t for t, _ in scan(f"see {text} here")}, what


@pytest.mark.parametrize(("type_", "template"), NAMED, ids=[f"{t}-{i}" for i, (t, _) in enumerate(NAMED)])
def test_named_value_found(scan: Callable[..., list[tuple[str, str]]], type_: str, template: str) -> None:
    text = fill(template, 6)
    assert type_ in {t for t, _ in scan(text)}


@pytest.mark.parametrize(("type_", "template"), NAMED, ids=[f"{t}-{i}" for i, (t, _) in enumerate(NAMED)])
def test_named_value_without_its_name_is_not_this_type(
    scan: Callable[..., list[tuple[str, str]]], type_: str, template: str
) -> None:
    text = fill(template, 7)
    value = re.split(r"[=:]\s?['\"]?|https://", text, maxsplit=1)[-1].split("@")[0].strip("'\"}")
    assert type_ not in {t for t, _ in scan(f"the value is {value}, see the runbook")}


@pytest.mark.parametrize(
    ("type_", "make"), LOOKALIKES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(LOOKALIKES)]
)
def test_look_alikes(scan: Callable[..., list[tuple[str, str]]], type_: str, make: Callable[[], str]) -> None:
    assert type_ not in {t for t, _ in scan(make())}


@pytest.mark.parametrize(
    ("type_", "key", "value"),
    [
        ("okta_api_token", "okta_api_token", "okta_api_token"),
        ("mistral_api_key", "mistralApiKey", "alnum32"),
        ("cloudflare_api_token", "CLOUDFLARE_API_TOKEN", "b64url40"),
        ("zendesk_api_token", "zendesk_token", "alnum40"),
        ("hubspot_api_key", "hapikey", "uuid"),
    ],
)
def test_named_value_by_json_field_name(
    scan: Callable[..., list[tuple[str, str]]], type_: str, key: str, value: str
) -> None:
    secret = fake(value, 8)
    doc = json.dumps({"config": {key: secret, "region": "eu"}})
    assert (type_, secret) in scan(doc, "application/json")
    assert type_ not in {t for t, _ in scan(json.dumps({"description": secret}), "application/json")}


def test_values_do_not_swallow_a_full_stop(scan: Callable[..., list[tuple[str, str]]]) -> None:
    for name in ("planetscale_password", "typeform_token", "salesforce_access_token"):
        value = fake(name, 9)
        assert (TOKENS[name], value) in scan(f"The key is {value}.")


@pytest.mark.parametrize(
    ("name", "host", "header"),
    [
        ("groq_api_key", "api.groq.com", "Authorization"),
        ("langsmith_api_key", "api.smith.langchain.com", "x-api-key"),
        ("digitalocean_pat", "api.digitalocean.com", "Authorization"),
        ("notion_token", "api.notion.com", "Authorization"),
        ("postman_api_key", "api.getpostman.com", "X-Api-Key"),
        ("brevo_api_key", "api.brevo.com", "api-key"),
        ("circleci_token", "circleci.com", "Circle-Token"),
        ("figma_pat", "api.figma.com", "X-Figma-Token"),
    ],
)
def test_key_sent_to_its_vendor_is_normal_use(name: str, host: str, header: str) -> None:
    scanner = DlpScanner(DlpConfig.from_mapping({}))
    value = fake(name, 10)
    bearer = f"Bearer {value}" if header == "Authorization" else value
    own = scanner.scan_request(host=host, method="GET", path_and_query="/v1/x", headers=[(header, bearer)])
    assert own.findings == []
    elsewhere = scanner.scan_request(
        host="collector.evil.example", method="GET", path_and_query="/", headers=[(header, bearer)]
    )
    assert [f.type for f in elsewhere.findings] == [TOKENS[name]]


# -- linear time on a hostile repetition of each literal --------------------------------------------------------

try:  # the Hyperscan prefilter (registry.Prefilter uses it when the library loads)
    from palaryn_proxy.dlp import hsprefilter
except ImportError:  # pragma: no cover
    hsprefilter = None  # type: ignore[assignment]

PREFILTERS = ["keywords"] + (["hyperscan"] if hsprefilter is not None and hsprefilter.AVAILABLE else [])


@pytest.fixture(scope="module")
def scanners() -> dict[str, DlpScanner]:
    out = {}
    for name in PREFILTERS:
        with pytest.MonkeyPatch.context() as mp:
            if hsprefilter is not None and name == "keywords":
                mp.setattr(hsprefilter, "AVAILABLE", False)
            out[name] = DlpScanner(DlpConfig.from_mapping({}))
    return out


def _literals() -> list[str]:
    out: set[str] = set()
    for d in secrets_vendors.DETECTORS:
        if d.key is None:
            out.update(d.anchors or d.keywords)
            out.update(d.starts)
    return sorted(out)


_N = 128 * 1024  # and 8n = 1 MiB
_FLOOR = 0.004  # seconds: shorter runs are timer noise


def _seconds(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.slow  # 1 MiB per literal and prefilter; a sample of every 20th literal keeps it to a minute
@pytest.mark.parametrize("literal", _literals()[::20])
@pytest.mark.parametrize("prefilter", PREFILTERS)
def test_repeated_literal_scans_in_linear_time(
    scanners: dict[str, DlpScanner], prefilter: str, literal: str
) -> None:
    """1 MiB of one prefix (or inner literal, or vendor name) repeated: 8x the input, at most 12x the time
    (a quadratic scan takes 64x)."""
    scanner = scanners[prefilter]

    def run_at(n: int) -> Callable[[], object]:
        text = literal * (n // len(literal))
        return lambda: scanner.scan_text(text, direction="response")

    small, large = run_at(_N), run_at(8 * _N)
    t1 = max(_seconds(small, 2), _FLOOR)
    t8 = _seconds(large, 1)
    if t8 > 12 * t1:  # a burst of load on a shared machine: measure again
        t1 = max(t1, _seconds(small, 3))
        t8 = min(t8, _seconds(large, 2))
    assert t8 < 12 * t1, f"{t8:.3f} s at 1 MiB vs {t1:.3f} s at 128 KiB"
