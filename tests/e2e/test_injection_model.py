"""The optional injection classifier (injection.model) through the real proxy, on a tiny ONNX model the test
builds: a page and a tool result only the model considers an injection are flagged, benign ones are not, a
model too slow for its deadline leaves the built-in score and is counted, and a missing model is reported by
`config check` with the key and the fix."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from e2e.harness import BIN, Proxy, base_env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine" / "dlp"))
import tinymodel  # noqa: E402

# Words only the model knows: the built-in heuristics see nothing here.
MODEL_ONLY = "Setup guide. zorblax quuxify frobnicate snarfle blorp"
BENIGN = "Release notes: bug fixes. The quarterly sales report grew by percent, see the summary table below."
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinymodel.build(tmp_path_factory.mktemp("injection-model"), layout="hf", token_type_ids=True)


@pytest.fixture(scope="module")
def model_proxy(tmp_path_factory, upstream, shared_certs, model_path):
    from e2e.harness import start_proxy

    p = start_proxy(
        tmp_path_factory.mktemp("model-proxy"),
        upstream,
        shared_certs,
        {"injection": {"action": "flag", "model": str(model_path)}},
    )
    yield p
    p.stop()


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


def injection_reasons(proxy: Proxy, response: httpx.Response) -> list[dict]:
    record = proxy.record_for(response.headers["x-palaryn-request-id"])
    return [r for r in record["reasons"] if r["stage"] == "injection"]


def test_a_page_only_the_model_flags_gets_the_warning(model_proxy, upstream):
    upstream.app.serve_fixture("/model/guide.html", f"<html><body><p>{MODEL_ONLY}</p></body></html>".encode(),
                               "text/html")  # fmt: skip
    upstream.app.serve_fixture("/model/notes.html", f"<html><body><p>{BENIGN}</p></body></html>".encode(),
                               "text/html")  # fmt: skip
    with client(model_proxy) as c:
        flagged = c.get("https://upstream.test/model/guide.html")
        benign = c.get("https://upstream.test/model/notes.html")
    assert flagged.status_code == 200 and MODEL_ONLY in flagged.text
    warning = flagged.headers["x-palaryn-warning"]
    assert warning.startswith("prompt-injection; score=") and float(warning.rsplit("=", 1)[1]) >= 0.8
    [reason] = injection_reasons(model_proxy, flagged)
    assert "signals=model" in reason["message"] and "response.body" in reason["message"]
    assert benign.status_code == 200 and "x-palaryn-warning" not in benign.headers
    assert injection_reasons(model_proxy, benign) == []
    assert "injection.model:" in (model_proxy.workdir / "proxy.stderr").read_text()  # what was loaded


def test_a_tool_result_only_the_model_flags_is_in_the_audit(model_proxy, upstream):
    upstream.app.serve_fixture("/v1/chat/completions", json.dumps(CHAT).encode(), "application/json")

    def ask(tool_result: str) -> httpx.Response:
        body = {"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "read the guide"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                  "function": {"name": "fetch", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": tool_result},
        ]}  # fmt: skip
        with client(model_proxy) as c:
            return c.post("https://api.openai.com/v1/chat/completions", json=body,
                          headers={"authorization": "Bearer sk-test"})  # fmt: skip

    flagged, benign = ask(MODEL_ONLY), ask(BENIGN)
    assert flagged.status_code == 200 and benign.status_code == 200
    [reason] = injection_reasons(model_proxy, flagged)
    assert "signals=model" in reason["message"] and "$.messages[2].content" in reason["message"]
    assert injection_reasons(model_proxy, benign) == []


def test_a_model_past_its_deadline_leaves_the_builtin_score_and_is_counted(
    proxy_factory, upstream, model_path
):
    slow = proxy_factory(
        {"injection": {"model": str(model_path), "model_timeout_seconds": 1e-9}}, name="slow"
    )
    upstream.app.serve_fixture(
        "/model/slow.html", f"<html><body>{MODEL_ONLY}</body></html>".encode(), "text/html"
    )
    with client(slow) as c:
        resp = c.get("https://upstream.test/model/slow.html")
    assert resp.status_code == 200 and "x-palaryn-warning" not in resp.headers
    metrics = httpx.get(f"http://127.0.0.1:{slow.metrics_port}/metrics", timeout=10).text
    assert 'palaryn_injection_model_skipped_total{reason="timeout"} 1.0' in metrics


def test_config_check_names_the_key_and_the_fix(tmp_path):
    def check(model: Path) -> str:
        config = tmp_path / "palaryn.yaml"
        config.write_text(yaml.safe_dump({"injection": {"model": str(model)}}))
        out = subprocess.run([str(BIN), "config", "check", str(config)], capture_output=True, text=True,
                             env=base_env(), timeout=60)  # fmt: skip
        assert out.returncode == 1
        return out.stdout + out.stderr

    missing = check(tmp_path / "missing")
    assert "injection.model: " in missing and "does not exist" in missing
    model = tinymodel.build(tmp_path / "model", layout="dir")
    (model / "tokenizer.json").unlink()
    assert "injection.model: no tokenizer.json beside" in check(model)
