"""Host -> adapter resolution, configured extra hosts, and config validation."""

from __future__ import annotations

import pytest

from palaryn_proxy.errors import ConfigError
from palaryn_proxy.providers import ProviderRegistry

DEFAULTS = [
    ("api.openai.com", 443, "openai"),
    ("API.OpenAI.com.", 443, "openai"),
    ("contoso.openai.azure.com", 443, "azure"),
    ("contoso-east.cognitiveservices.azure.com", 443, "azure"),
    ("api.anthropic.com", 443, "anthropic"),
    ("generativelanguage.googleapis.com", 443, "gemini"),
    ("aiplatform.googleapis.com", 443, "vertex"),
    ("europe-west4-aiplatform.googleapis.com", 443, "vertex"),
    ("bedrock-runtime.us-east-1.amazonaws.com", 443, "bedrock"),
    ("bedrock-runtime-fips.us-gov-west-1.amazonaws.com", 443, "bedrock"),
    ("api.mistral.ai", 443, "mistral"),
    ("api.groq.com", 443, "groq"),
    ("api.deepseek.com", 443, "deepseek"),
    ("api.x.ai", 443, "xai"),
    ("openrouter.ai", 443, "openrouter"),
    ("api.together.xyz", 443, "together"),
    ("api.fireworks.ai", 443, "fireworks"),
    ("api.cohere.com", 443, "cohere"),
    ("localhost", 11434, "ollama"),
    ("10.1.2.3", 11434, "ollama"),
]


@pytest.mark.parametrize(("host", "port", "adapter_id"), DEFAULTS)
def test_default_hosts(host: str, port: int, adapter_id: str) -> None:
    adapter = ProviderRegistry().resolve(host, port, "/")
    assert adapter is not None and adapter.id == adapter_id


@pytest.mark.parametrize(
    ("host", "port"),
    [("example.com", 443), ("localhost", 8000), ("openai.com", 443), ("evil-api.openai.com.attacker.net", 443),
     ("s3.us-east-1.amazonaws.com", 443), ("bedrock.us-east-1.amazonaws.com", 443)],
)  # fmt: skip
def test_unknown_hosts(host: str, port: int) -> None:
    assert ProviderRegistry().resolve(host, port, "/v1/chat/completions") is None


def test_configured_hosts_win_and_match_ports_globs_and_ipv6() -> None:
    registry = ProviderRegistry(
        {
            "openai_compatible": ["localhost:8000", "*.llm.internal", "[::1]:9000", "gateway.corp"],
            "azure": ["ai.contoso.com"],
            "anthropic": ["*:11434"],
            "openai": ["api.deepseek.com"],
        }
    )
    assert registry.resolve("localhost", 8000, "/").id == "openai_compatible"  # type: ignore[union-attr]
    assert registry.resolve("localhost", 8001, "/") is None
    assert registry.resolve("a.b.llm.internal", 443, "/").id == "openai_compatible"  # type: ignore[union-attr]
    assert registry.resolve("::1", 9000, "/").id == "openai_compatible"  # type: ignore[union-attr]
    assert registry.resolve("gateway.corp", 1234, "/").id == "openai_compatible"  # type: ignore[union-attr]
    assert registry.resolve("ai.contoso.com", 443, "/").id == "azure"  # type: ignore[union-attr]
    assert registry.resolve("localhost", 11434, "/").id == "anthropic"  # type: ignore[union-attr]
    assert registry.resolve("api.deepseek.com", 443, "/").id == "openai"  # type: ignore[union-attr]
    assert registry.resolve("api.openai.com", 443, "/").id == "openai"  # type: ignore[union-attr]


def test_ids_and_adapter_lookup() -> None:
    registry = ProviderRegistry()
    ids = registry.ids()
    assert len(ids) == len(set(ids)) == 17  # 16 + perplexity
    for adapter_id in ids:
        adapter = registry.adapter(adapter_id)
        assert adapter.id == adapter_id
        assert adapter.error_style in ("openai", "anthropic", "gemini", "bedrock", "ollama", "cohere")
    with pytest.raises(KeyError, match="valid ids: openai, azure"):
        registry.adapter("nope")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"opneai": {"hosts": ["x"]}},
            r"providers\.opneai: unknown provider adapter; valid ids: openai, azure, ",
        ),
        ({"openai": ["x"]}, r"providers\.openai: expected a mapping with a 'hosts' list"),
        ({"openai": {"host": ["x"]}}, r"providers\.openai: unknown key\(s\) host; the only key is 'hosts'"),
        ({"openai": {"hosts": "x.com"}}, r"providers\.openai\.hosts: expected a list"),
        ({"openai": {"hosts": ["ok.com", ""]}}, r"providers\.openai\.hosts\[1\]: expected a host pattern"),
        (
            {"openai": {"hosts": ["x.com:70000"]}},
            r"providers\.openai\.hosts\[0\]: port 70000 is out of range",
        ),
        (
            {"openai": {"hosts": ["https://x.com/v1"]}},
            r"providers\.openai\.hosts\[0\]: 'https://x.com/v1' is not",
        ),
        ({"openai": {"hosts": [42]}}, r"providers\.openai\.hosts\[0\]: expected a host pattern"),
        (["openai"], r"providers: expected a mapping"),
    ],
)
def test_config_errors_name_the_key(section: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProviderRegistry.from_config(section)


def test_from_config() -> None:
    registry = ProviderRegistry.from_config(
        {"openai_compatible": {"hosts": ["vllm.internal:8000"]}, "groq": {}}
    )
    assert registry.resolve("vllm.internal", 8000, "/").id == "openai_compatible"  # type: ignore[union-attr]
    assert ProviderRegistry.from_config(None).resolve("vllm.internal", 8000, "/") is None
