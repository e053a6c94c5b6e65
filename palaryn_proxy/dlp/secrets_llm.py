"""LLM provider keys: OpenAI (project, user, admin, service account), Anthropic, Google AI (Gemini)."""

from __future__ import annotations

import re

from .detector import B_END, SECRETS, TOKEN_BEFORE, Detector, rx

_GEMINI = re.compile(r"gemini|generativelanguage|google[_ -]?ai|genai")


def _gemini_context(text: str, m: re.Match[str]) -> bool:
    """An `AIza` key named as a Gemini / Google AI key just before it (`GEMINI_API_KEY=AIza...`)."""
    return _GEMINI.search(text[max(0, m.start() - 80) : m.start()].lower()) is not None


# Newer OpenAI keys carry "T3BlbkFJ" (base64 of "OpenAI") in the middle; legacy user keys always did.
_OPENAI_BODY = r"[A-Za-z0-9_-]{40,300}+"


def _openai(type_: str, prefix: str) -> Detector:
    return Detector(
        type=type_,
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"({prefix}{_OPENAI_BODY}){B_END}"),
        keywords=("sk-",),
        anchors=(prefix,),
        value_group=1,
        min_entropy=4.0,
        entropy_skip=len(prefix),
        priority=90,
        preview=4,
    )


DETECTORS: tuple[Detector, ...] = (
    _openai("openai_project_key", "sk-proj-"),
    _openai("openai_service_account_key", "sk-svcacct-"),
    _openai("openai_admin_key", "sk-admin-"),
    _openai("openai_user_key", "sk-None-"),
    Detector(
        type="openai_user_key",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(sk-[A-Za-z0-9]{{20}}T3BlbkFJ[A-Za-z0-9]{{20}}){B_END}"),
        keywords=("sk-",),
        anchors=("sk-",),
        value_group=1,
        min_entropy=3.5,
        entropy_skip=3,
        priority=90,
        preview=3,
    ),
    Detector(
        type="anthropic_api_key",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(sk-ant-(?:api|oat|ort)\d{{2}}-[A-Za-z0-9_-]{{80,120}}+){B_END}"),
        keywords=("sk-",),
        anchors=("sk-ant-",),
        value_group=1,
        min_entropy=4.0,
        entropy_skip=14,
        priority=90,
        preview=4,
    ),
    Detector(
        type="anthropic_admin_key",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(sk-ant-admin\d{{2}}-[A-Za-z0-9_-]{{80,120}}+){B_END}"),
        keywords=("sk-",),
        anchors=("sk-ant-admin",),
        value_group=1,
        min_entropy=4.0,
        entropy_skip=16,
        priority=90,
        preview=4,
    ),
    Detector(
        type="google_ai_api_key",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(AIza[0-9A-Za-z_-]{{35}}){B_END}"),
        match_filter=_gemini_context,
        keywords=("AIza",),
        anchors=("AIza",),
        value_group=1,
        min_entropy=3.5,
        entropy_skip=4,
        priority=70,
        preview=4,
    ),
)
