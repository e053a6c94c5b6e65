"""Source-control and package-registry tokens: GitHub, GitLab, npm, PyPI, Docker Hub, Hugging Face."""

from __future__ import annotations

from .detector import B_END, SECRETS, TOKEN_BEFORE, Detector, rx
from .validators import crc32_base62_ok

# One cheap search stands for every GitHub prefix, one for every GitLab prefix.
_GITHUB = rx(r"g(?:h[pousr]_|ithub_pat_)")
_GITLAB = rx(r"gl(?:pat|dt|rt|ptt|cbt|oas|soat|ffct|imt|agent|ft)-")


def _github(type_: str, prefix: str) -> Detector:
    """GitHub's 2021 format: prefix, 30 random base62 characters, 6 of base62 CRC32 checksum."""
    return Detector(
        type=type_,
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"({prefix}_[A-Za-z0-9]{{36}}){B_END}"),
        trigger=_GITHUB,
        anchors=(f"{prefix}_",),
        value_group=1,
        validate=crc32_base62_ok,
        placeholder_check=False,
        priority=90,
        preview=4,
    )


DETECTORS: tuple[Detector, ...] = (
    _github("github_pat", "ghp"),
    _github("github_oauth_token", "gho"),
    _github("github_user_token", "ghu"),
    _github("github_app_token", "ghs"),
    _github("github_refresh_token", "ghr"),
    Detector(
        type="github_fine_grained_pat",
        group=SECRETS,
        anchors=("github_pat_",),
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(github_pat_[A-Za-z0-9]{{22}}_[A-Za-z0-9]{{59}}){B_END}"),
        trigger=_GITHUB,
        value_group=1,
        min_entropy=4.0,
        entropy_skip=11,
        priority=90,
        preview=4,
    ),
    Detector(
        type="gitlab_pat",
        group=SECRETS,
        anchors=("glpat-",),
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(glpat-[A-Za-z0-9_-]{{20,64}}(?:\.[0-9a-z]{{2}}\.[0-9a-z]{{9}})?){B_END}"),
        trigger=_GITLAB,
        value_group=1,
        min_entropy=3.0,
        entropy_skip=6,
        priority=90,
        preview=4,
    ),
    Detector(
        type="gitlab_token",
        group=SECRETS,
        anchors=(
            "gldt-",
            "glrt-",
            "glptt-",
            "glcbt-",
            "gloas-",
            "glsoat-",
            "glffct-",
            "glimt-",
            "glagent-",
            "glft-",
        ),
        not_after=TOKEN_BEFORE,
        pattern=rx(
            rf"(gl(?:dt|rt|ptt|cbt|oas|soat|ffct|imt|agent|ft)-[A-Za-z0-9_-]{{20,64}}"
            rf"(?:\.[0-9a-z]{{2}}\.[0-9a-z]{{9}})?){B_END}"
        ),
        trigger=_GITLAB,
        value_group=1,
        min_entropy=3.0,
        entropy_skip=6,
        priority=90,
        preview=4,
    ),
    Detector(
        type="npm_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(npm_[A-Za-z0-9]{{36}}){B_END}"),
        keywords=("npm_",),
        anchors=("npm_",),
        value_group=1,
        validate=crc32_base62_ok,
        placeholder_check=False,
        priority=90,
        preview=4,
    ),
    Detector(
        type="pypi_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{{50,1000}}+){B_END}"),
        keywords=("pypi-AgE",),
        anchors=("pypi-AgE",),
        value_group=1,
        min_entropy=4.0,
        priority=90,
        preview=4,
    ),
    Detector(
        type="docker_hub_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"(dckr_(?:pat|oat)_[A-Za-z0-9_-]{{27,40}}){B_END}"),
        keywords=("dckr_",),
        anchors=("dckr_",),
        value_group=1,
        min_entropy=3.5,
        entropy_skip=9,
        priority=90,
        preview=4,
    ),
    Detector(
        type="huggingface_token",
        group=SECRETS,
        not_after=TOKEN_BEFORE,
        pattern=rx(rf"((?:hf|api_org)_[A-Za-z]{{34}}){B_END}"),
        keywords=("hf_", "api_org_"),
        anchors=("hf_", "api_org_"),
        value_group=1,
        min_entropy=3.8,
        entropy_skip=3,
        priority=90,
        preview=3,
    ),
)
