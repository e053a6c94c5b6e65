"""SaaS credentials: Slack, Stripe, Twilio, SendGrid, Mailgun, Shopify, Discord, Telegram, Datadog, Heroku."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detector import B_END, SECRETS, TOKEN_BEFORE, Detector, Span, assignment, rx
from .validators import discord_token_ok

_TELEGRAM_TAIL = rx(rf":AA[A-Za-z0-9_-]{{33}}{B_END}")
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _telegram_tokens(text: str) -> Iterator[Span]:
    """`<bot id>:AA<33 chars>`, anchored on `:AA`; the 8-10 digit bot id is read backwards."""
    for m in _TELEGRAM_TAIL.finditer(text):
        s = m.start()
        while s > 0 and text[s - 1].isdigit() and m.start() - s < 11:
            s -= 1
        if not 8 <= m.start() - s <= 10:
            continue
        if s == 0 or text[s - 1] not in _ID_CHARS or text[max(0, s - 4) : s] == "/bot":
            yield s, m.end(), text[s : m.end()]


def _word_start(text: str, m: re.Match[str]) -> bool:
    return m.start() == 0 or not text[m.start() - 1].isalnum()


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _token(
    type_: str,
    pattern: str,
    anchors: tuple[str, ...],
    keywords: tuple[str, ...],
    entropy: float,
    skip: int,
    preview: int = 4,
) -> Detector:
    """A vendor token that starts with one of `anchors` (`keywords`, shorter, feed the prefilter)."""
    return Detector(
        type=type_,
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"({pattern}){B_END}"),
        keywords=keywords,
        anchors=anchors,
        value_group=1,
        min_entropy=entropy,
        entropy_skip=skip,
        priority=90,
        preview=preview,
    )


def _context(
    type_: str, context: str, value: str, ikeywords: tuple[str, ...], vendor: tuple[str, ...]
) -> Detector:
    """A bare hex or UUID value, trusted only after a vendor name (`context` starts with one of `vendor`)
    and a key-like word (`DD_API_KEY=`)."""
    return Detector(
        type=type_,
        group=SECRETS,
        pattern=rx(assignment(context, value)),
        starts=vendor,
        lower=True,
        match_filter=_word_start,
        ikeywords=ikeywords,
        value_group=1,
        min_entropy=3.0,
        priority=70,
    )


DETECTORS: tuple[Detector, ...] = (
    _token("slack_bot_token", r"xoxb-\d{8,13}-\d{8,13}-[A-Za-z0-9]{24,32}", ("xoxb-",), ("xox",), 3.0, 5),
    _token(
        "slack_user_token",
        r"xox[pe]-\d{8,13}-\d{8,13}-\d{8,13}-[a-f0-9]{32}",
        ("xoxp-", "xoxe-"),
        ("xox",),
        3.0,
        5,
    ),
    _token(
        "slack_app_token", r"xapp-\d-[A-Z0-9]{9,12}-\d{10,13}-[a-f0-9]{64}", ("xapp-",), ("xapp-",), 3.0, 5
    ),
    Detector(
        type="slack_webhook_url",
        group=SECRETS,
        pattern=rx(
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/"
            rf"(T[A-Z0-9]{{8,12}}/[A-Z0-9]{{8,12}}/[A-Za-z0-9]{{24,32}}){B_END}"
        ),
        keywords=("hooks.slack.com",),
        value_group=1,
        min_entropy=3.0,
        priority=90,
    ),
    _token("stripe_secret_key", r"sk_live_[0-9A-Za-z]{24,247}", ("sk_live_",), ("_live_",), 3.5, 8, 3),
    _token("stripe_restricted_key", r"rk_live_[0-9A-Za-z]{24,247}", ("rk_live_",), ("_live_",), 3.5, 8, 3),
    _token("stripe_webhook_secret", r"whsec_[A-Za-z0-9+/=]{32,64}", ("whsec_",), ("whsec_",), 3.5, 6),
    _token("twilio_api_key", r"SK[0-9a-f]{32}", ("SK",), ("SK",), 3.0, 2, 2),
    _context(
        "twilio_auth_token",
        r"twilio[\w.:\s-]{0,20}?(?:auth[_ -]?token|secret)",
        r"[0-9a-f]{32}",
        ("token", "secret"),
        ("twilio",),
    ),  # fmt: skip
    _token("sendgrid_api_key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", ("SG.",), ("SG.",), 3.5, 3, 3),
    _token("mailgun_api_key", r"key-[0-9a-f]{32}", ("key-",), ("key-",), 3.0, 4),
    _context(
        "mailgun_api_key",
        r"mailgun[\w.:\s-]{0,20}?(?:key|secret|token)",
        r"[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}",
        ("key", "secret", "token"),
        ("mailgun",),
    ),  # fmt: skip
    _token(
        "shopify_token",
        r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        ("shp",),
        3.0,
        6,
    ),
    Detector(
        type="discord_bot_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"([MNO][A-Za-z0-9_-]{{23,27}}\.[A-Za-z0-9_-]{{6}}\.[A-Za-z0-9_-]{{27,38}}){B_END}"),
        trigger=rx(r"\.[A-Za-z0-9_-]{6}\."),
        value_group=1,
        validate=discord_token_ok,
        min_entropy=3.5,
        priority=90,
    ),
    Detector(
        type="discord_webhook_url",
        group=SECRETS,
        pattern=rx(
            r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/"
            rf"(\d{{17,20}}/[A-Za-z0-9_-]{{60,68}}){B_END}"
        ),
        keywords=("discord",),
        value_group=1,
        min_entropy=3.5,
        priority=90,
    ),
    Detector(
        type="telegram_bot_token",
        group=SECRETS,
        pattern=_TELEGRAM_TAIL,
        finder=_telegram_tokens,
        keywords=(":AA",),
        min_entropy=3.5,
        entropy_skip=11,
        priority=90,
    ),
    _context(
        "datadog_api_key",
        r"(?:datadog|dd)[\w.:\s-]{0,16}?api[_-]?key",
        r"[a-f0-9]{32}",
        ("key",),
        ("datadog", "dd"),
    ),  # fmt: skip
    _context(
        "datadog_app_key",
        r"(?:datadog|dd)[\w.:\s-]{0,16}?app(?:lication)?[_-]?key",
        r"[a-f0-9]{40}",
        ("key",),
        ("datadog", "dd"),
    ),  # fmt: skip
    _token("heroku_api_key", rf"HRKU-(?:{_UUID}|[A-Za-z0-9_-]{{60,70}})", ("HRKU-",), ("HRKU-",), 3.0, 5),
    _context(
        "heroku_api_key",
        r"heroku[\w.:\s-]{0,20}?(?:key|token|secret)",
        _UUID,
        ("key", "token", "secret"),
        ("heroku",),
    ),
)
