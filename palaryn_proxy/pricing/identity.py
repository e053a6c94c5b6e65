"""Model names as providers spell them (Vertex publisher paths, Bedrock ARNs) reduced to the priced model id."""

from __future__ import annotations

import re

# Vertex AI: projects/P/locations/L/publishers/google/models/gemini-2.5-flash, publishers/.../models/X,
# and the OpenAI-compatible endpoint's "google/gemini-2.5-flash".
_VERTEX_PATH = re.compile(r"(?:^|/)models/([^/:]+)$")
_PUBLISHERS = ("google/", "anthropic/", "meta/", "mistralai/")
# Bedrock: arn:aws:bedrock:REGION:ACCOUNT:(inference-profile|foundation-model)/ID
_BEDROCK_ARN = re.compile(r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:(?:inference-profile|foundation-model)/(.+)$")


def model_names(provider: str, model: str) -> tuple[str, ...]:
    """`model`, then the names it stands for, most specific first (no duplicates)."""
    names = [model.strip()]
    name = names[0]
    if provider in ("vertex", "gemini"):
        if found := _VERTEX_PATH.search(name):
            name = found.group(1)
        for prefix in _PUBLISHERS:
            if name.lower().startswith(prefix):
                name = name[len(prefix) :]
    elif provider == "bedrock" and (found := _BEDROCK_ARN.match(name)):
        name = found.group(1)
    if name and name != names[0]:
        names.append(name)
    return tuple(names)
