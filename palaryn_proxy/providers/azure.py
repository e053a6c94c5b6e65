"""Azure OpenAI (`*.openai.azure.com` and the newer Azure AI hosts): deployment paths with `api-version`,
the `/openai/v1/` form and the model-inference `/models/` form; usage is OpenAI's."""

from __future__ import annotations

import re
from urllib.parse import unquote

from .openai import OpenAIAdapter, api_for_path

_DEPLOYMENT = re.compile(r"^/openai/deployments/([^/]+)(/.+)$")


class AzureOpenAIAdapter(OpenAIAdapter):
    """`/openai/deployments/{deployment}/chat/completions?api-version=...` names only the deployment:
    LLMRequest.model falls back to it, and the result's model comes from the response."""

    id = "azure"
    hosts = ("*.openai.azure.com", "*.cognitiveservices.azure.com", "*.services.ai.azure.com")

    def endpoint(self, path: str) -> tuple[str, str | None] | None:
        match = _DEPLOYMENT.match(path)
        if match is not None:
            api = api_for_path(match.group(2))
            return (api, unquote(match.group(1))) if api else None
        api = api_for_path(path)  # /openai/v1/..., /openai/responses, /models/chat/completions
        return (api, None) if api else None
