"""AI and LLM providers beyond secrets_llm: Groq, Replicate, Perplexity, xAI, OpenRouter, LangSmith, Pinecone,
NVIDIA, Together, Tavily, Firecrawl, Amazon Bedrock by prefix; DeepSeek, Mistral, Cohere, Azure OpenAI,
Fireworks, ElevenLabs, AssemblyAI, Deepgram, Weights & Biases by name."""

from __future__ import annotations

from .detector import Detector
from .secrets_vendors_base import GAP, LOWER_UUID, named, token

DETECTORS: tuple[Detector, ...] = (
    token("groq_api_key", r"gsk_[A-Za-z0-9]{52}", ("gsk_",), entropy=4.0),
    token("replicate_api_token", r"r8_[A-Za-z0-9_-]{37}", ("r8_",), entropy=3.5),
    token("perplexity_api_key", r"pplx-[A-Za-z0-9]{48,64}", ("pplx-",), entropy=4.0),
    token("xai_api_key", r"xai-[A-Za-z0-9_]{80}", ("xai-",), entropy=4.0),
    token("openrouter_api_key", r"sk-or-v1-[a-f0-9]{64}", ("sk-or-v1-",)),
    token(
        "langsmith_api_key",
        r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}",
        ("lsv2_pt_", "lsv2_sk_"),
        keywords=("lsv2_",),
    ),
    token("pinecone_api_key", r"pcsk_[A-Za-z0-9]{5,6}_[A-Za-z0-9]{63}", ("pcsk_",), entropy=4.0),
    *named("pinecone_api_key", "pinecone", LOWER_UUID, ("pinecone",)),
    token("nvidia_api_key", r"nvapi-[A-Za-z0-9_-]{64}", ("nvapi-",), entropy=4.0),
    token("together_api_key", r"tgp_v1_[A-Za-z0-9_-]{43}", ("tgp_v1_",), entropy=3.5),
    *named("together_api_key", r"together(?:[_ .-]?ai)?", "[a-f0-9]{64}", ("together",)),
    token("tavily_api_key", r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}", ("tvly-",), entropy=3.5),
    token("firecrawl_api_key", r"fc-[a-f0-9]{32}", ("fc-",)),
    # Long-term Bedrock API keys: ABSK + base64 of "BedrockAPIKey-..."; short-term ones: a presigned URL.
    token(
        "aws_bedrock_api_key",
        r"ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{80,300}={0,2}"
        r"|bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/]{100,4000}={0,2}",
        ("ABSKQmVkcm9ja0FQSUtleS", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"),
        entropy=4.0,
    ),
    *named("deepseek_api_key", "deepseek", "sk-[a-f0-9]{32}", ("deepseek",)),
    *named("mistral_api_key", "mistral", "[a-z0-9]{32}", ("mistral",)),
    *named(
        "cohere_api_key",
        "",
        "[a-z0-9]{40}",
        ("cohere", "co_api_key"),
        context=rf"cohere{GAP}(?:key|token)|co_api_key",
    ),
    *named(
        "azure_openai_api_key",
        r"azure[_.-]?(?:openai|oai|ai[_.-]?services|cognitive[_.-]?services)",
        "[a-f0-9]{32}|[a-z0-9]{84}",
        ("azure",),
        words="key",
    ),
    *named("fireworks_api_key", "fireworks(?:[_ .-]?ai)?", "(?:fw_)?[a-z0-9]{20,48}", ("fireworks",)),
    *named(
        "elevenlabs_api_key",
        "",
        "(?:sk_)?[a-f0-9]{32,48}",
        ("elevenlabs", "xi-api-key", "xi_api_key"),
        context=rf"elevenlabs{GAP}(?:key|token)|xi[_-]api[_-]key",
    ),
    *named("assemblyai_api_key", r"assembly[_ .-]?ai", "[a-f0-9]{32}", ("assembly",)),
    *named("deepgram_api_key", "deepgram", "[a-f0-9]{40}", ("deepgram",)),
    *named("wandb_api_key", r"wandb|weights[_ .-]?and[_ .-]?biases", "[a-f0-9]{40}", ("wandb", "weights")),
)
