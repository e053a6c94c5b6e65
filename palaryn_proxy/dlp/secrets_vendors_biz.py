"""Business SaaS, payments, messaging and social platforms: Adobe, Airtable, Alibaba, Contentful, HubSpot, Notion,
Mailchimp, Brevo, Mapbox, Dropbox, Square, Facebook, Twitter / X, Shippo, EasyPost, Duffel, Flutterwave,
Frame.io, Typeform, Yandex, Plaid, Salesforce, Figma, PostHog, Resend, ClickUp, Microsoft Teams webhooks by
format; Asana, Beamer, Intercom, MessageBird, GoCardless, Coinbase, Confluent, Cloudflare, Fastly, Twitch,
Zendesk, LaunchDarkly, PagerDuty, Postmark, Algolia, Auth0, Lob by name."""

from __future__ import annotations

from .detector import B_END, SECRETS, Detector, rx
from .secrets_vendors_base import (
    GAP,
    LOWER_UUID,
    UUID,
    named,
    random_tail_after_runs,
    suffixed,
    token,
)

_TWITTER_BEARER_LEAD = "A" * 20  # app-only bearer tokens start with a run of 20-odd A's

DETECTORS: tuple[Detector, ...] = (
    token("adobe_client_secret", r"p8e-[A-Za-z0-9]{32}", ("p8e-",), entropy=3.5),
    token("airtable_pat", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}", ("pat",), keywords=("pat",)),
    token("alibaba_access_key_id", r"LTAI[A-Za-z0-9]{12,20}", ("LTAI",), entropy=3.0),
    *named(
        "alibaba_secret_key", "alibaba|aliyun|alicloud", "[a-z0-9]{30}", ("alibaba", "aliyun", "alicloud")
    ),
    token("contentful_pat", r"CFPAT-[A-Za-z0-9_-]{43}", ("CFPAT-",), entropy=3.5),
    *named("contentful_delivery_token", "contentful", "[a-z0-9_-]{43}", ("contentful",), entropy=3.5),
    token("hubspot_access_token", rf"pat-(?:na|eu|ap)\d-{UUID}", ("pat-",)),
    *named(
        "hubspot_api_key",
        "",
        LOWER_UUID,
        ("hubspot", "hapikey"),
        context=rf"hubspot{GAP}(?:key|token|secret)|hapikey",
    ),
    token(
        "notion_token",
        r"ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43}",
        ("ntn_", "secret_"),
        entropy=3.5,
    ),
    suffixed("mailchimp_api_key", r"[0-9a-f]{32}-us[0-9]{1,2}", "-us", 32),
    token(
        "brevo_api_key",
        r"x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}",
        ("xkeysib-", "xsmtpsib-"),
        keywords=("sib-",),
    ),
    token(
        "mapbox_secret_token",
        r"[st]k\.eyJ[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{22}",
        ("sk.eyJ", "tk.eyJ"),
        keywords=("k.eyJ",),
        entropy=4.0,
    ),
    token(
        "mapbox_public_token", r"pk\.eyJ[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{22}", ("pk.eyJ",), entropy=4.0
    ),
    token("dropbox_token", r"sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400}", ("sl.",), entropy=4.0),
    *named(
        "dropbox_token",
        "dropbox",
        "[a-z0-9]{11}a{10}[a-z0-9_=-]{43}",
        ("dropbox",),
        validate=random_tail_after_runs(11, 3.5),
        placeholder_check=False,
    ),
    token(
        "square_access_token",
        r"EAAA[A-Za-z0-9_-]{60}|(?:sandbox-)?sq0atp-[A-Za-z0-9_-]{22}",
        ("EAAA", "sq0atp-", "sandbox-sq0atp-"),
        keywords=("EAAA", "sq0atp-"),
        entropy=3.5,
    ),
    token(
        "square_oauth_secret",
        r"(?:sandbox-)?sq0csp-[A-Za-z0-9_-]{43}",
        ("sq0csp-", "sandbox-sq0csp-"),
        keywords=("sq0csp-",),
        entropy=3.5,
    ),
    token("facebook_access_token", r"EAA[A-Za-z0-9]{100,400}", ("EAA",), entropy=4.0),
    *named("facebook_app_secret", r"facebook|fb[_.-]?app|fb[_.-]?client", "[a-f0-9]{32}", ("facebook", "fb")),
    token(
        "twitter_bearer_token",
        r"A{20,24}[A-Za-z0-9%]{60,200}",
        (_TWITTER_BEARER_LEAD,),
        entropy=0.0,
        validate=random_tail_after_runs(20, 4.0),
        placeholder_check=False,
    ),
    *named(
        "twitter_api_secret", "twitter|x_consumer", "[a-z0-9]{50}", ("twitter", "x_consumer"), words="secret"
    ),
    *named(
        "twitter_access_token",
        "twitter|x_access",
        "[0-9]{15,25}-[a-z0-9]{20,40}",
        ("twitter", "x_access"),
        entropy=3.5,
    ),
    token("shippo_api_token", r"shippo_(?:live|test)_[a-fA-F0-9]{40}", ("shippo_",)),
    token("easypost_api_key", r"EZ[AT]K[A-Za-z0-9]{54}", ("EZAK", "EZTK"), entropy=3.5),
    token("duffel_token", r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}", ("duffel_",), entropy=3.5),
    token(
        "flutterwave_secret_key",
        r"FLWSECK(?:_TEST)?-[A-Za-z0-9]{32}-X|FLWSECK_TEST[a-fA-F0-9]{12}",
        ("FLWSECK",),
    ),
    token("frameio_token", r"fio-u-[A-Za-z0-9_=-]{64}", ("fio-u-",), entropy=3.5),
    # The body may hold dots, never end with one (the full stop of a sentence).
    token("typeform_token", r"tfp_[A-Za-z0-9_=.-]{39,63}[A-Za-z0-9_=-]", ("tfp_",), entropy=3.5),
    token("yandex_api_key", r"AQVN[A-Za-z0-9_-]{35,38}", ("AQVN",), entropy=3.5),
    token(
        "yandex_iam_token", r"t1\.[A-Za-z0-9_-]{20,400}={0,2}\.[A-Za-z0-9_-]{86}={0,2}", ("t1.",), entropy=4.0
    ),
    *named("yandex_access_key_secret", r"yandex|yc[_.-]", "yc[a-z0-9_-]{38}", ("yandex", "yc")),
    token("plaid_access_token", rf"access-(?:sandbox|development|production)-{UUID}", ("access-",)),
    *named("plaid_secret", "plaid", "[a-z0-9]{30}", ("plaid",), words="secret", entropy=3.5),
    token(
        "salesforce_access_token",
        r"00D[A-Za-z0-9]{12}![A-Za-z0-9_.]{79,120}[A-Za-z0-9_]",
        ("00D",),
        entropy=4.0,
    ),
    token("figma_pat", r"figd_[A-Za-z0-9_-]{36,64}", ("figd_",), entropy=3.5),
    token("posthog_personal_api_key", r"phx_[A-Za-z0-9_]{43,48}", ("phx_",), entropy=3.5),
    token("resend_api_key", r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}", ("re_",), entropy=3.5),
    token("clickup_api_token", r"pk_[0-9]{6,12}_[A-Z0-9]{32}", ("pk_",), entropy=3.0),
    Detector(
        type="teams_webhook_url",
        group=SECRETS,
        pattern=rx(
            rf"https://[a-z0-9-]{{1,63}}\.webhook\.office\.com/webhookb2/({UUID}@{UUID}/IncomingWebhook/"
            rf"[A-Za-z0-9]{{32}}/{UUID}(?:/[A-Za-z0-9_-]{{20,80}})?){B_END}"
        ),
        keywords=(".webhook.office.com/",),
        value_group=1,
        min_entropy=3.0,
        priority=90,
    ),
    *named("asana_pat", "asana", "[0-9]/[0-9]{12,19}(?:/[0-9]{12,19})?:[a-z0-9]{32}", ("asana",)),
    *named("asana_client_secret", "asana", "[a-z0-9]{32}", ("asana",), words="secret"),
    *named("beamer_api_key", "beamer", "b_[a-z0-9=_-]{44}", ("beamer",)),
    *named("intercom_access_token", "intercom", "[a-z0-9_+/-]{58,60}={0,2}", ("intercom",), entropy=3.5),
    *named("messagebird_api_key", r"message[_ .-]?bird", "[a-z0-9]{25}", ("message",), ikeywords=("bird",)),
    *named("gocardless_token", "gocardless", "(?:live|sandbox)_[a-z0-9_=-]{40}", ("gocardless",)),
    *named("coinbase_api_secret", "coinbase", "[a-z0-9_-]{64}", ("coinbase",), words="secret|key|token"),
    *named("confluent_api_secret", "confluent", "[a-z0-9+/]{64}", ("confluent",), words="secret"),
    *named("cloudflare_api_token", r"cloudflare|cf[_.-]api", "[a-z0-9_-]{40}", ("cloudflare", "cf")),
    *named("cloudflare_global_api_key", r"cloudflare|cf[_.-]api", "[a-f0-9]{37}", ("cloudflare", "cf")),
    token("cloudflare_origin_ca_key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}", ("v1.0-",)),
    *named("fastly_api_token", "fastly", "[a-z0-9_-]{32}", ("fastly",)),
    *named("twitch_api_token", "twitch", "[a-z0-9]{30}", ("twitch",)),
    *named("zendesk_api_token", "zendesk", "[a-z0-9]{40}", ("zendesk",)),
    *named(
        "launchdarkly_key", r"launch[_ .-]?darkly|ld[_.-]", rf"(?:api|sdk|mob)-{LOWER_UUID}", ("launch", "ld")
    ),
    *named("pagerduty_api_key", r"pager[_ .-]?duty|pd[_.-]", r"(?:u\+)?[a-z0-9_+-]{18,20}", ("pager", "pd")),
    *named("postmark_server_token", "postmark", LOWER_UUID, ("postmark",)),
    *named(
        "algolia_admin_key",
        "algolia",
        "[a-f0-9]{32}",
        ("algolia",),
        words="admin[_.-]?(?:api[_.-]?)?key|write",
    ),
    *named("auth0_client_secret", "auth0", "[a-z0-9_-]{64}", ("auth0",), words="secret"),
    *named("lob_api_key", "lob", "(?:live|test)_(?:pub_)?[a-f0-9]{31,35}", ("lob",)),
)
