"""SIGHUP reload: reloadable keys swapped together, others named as needing a restart, bad files refused."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from palaryn_proxy.config import load_config
from palaryn_proxy.runtime import Runtime
from palaryn_proxy.serve import reload


def test_apply_swaps_reloadable_keys_and_names_the_rest(tmp_path):
    path = tmp_path / "palaryn.yaml"
    path.write_text(yaml.safe_dump({"block_domains": ["a.test"], "upstream_timeout": 30}))
    runtime = Runtime.build(load_config(path, {"listen": "127.0.0.1:9999"}, environ={}), open_audit=False)
    path.write_text(
        yaml.safe_dump(
            {
                "block_domains": ["b.test"],
                "passthrough_hosts": ["pinned.test"],
                "identity": {"client_map": {"10.0.0.0/8": {"actor": "sidecar"}}},
                "upstream_timeout": 5,
                "listen": "127.0.0.1:1111",
            }
        )
    )
    result = reload.apply(runtime, reload.read_new(runtime.config))
    assert result.ok and set(result.applied) == {"block_domains", "passthrough_hosts", "identity"}
    assert result.needs_restart == ("upstream_timeout",)
    assert runtime.block_domains.match("b.test") and not runtime.block_domains.match("a.test")
    assert runtime.passthrough.match("pinned.test")
    assert runtime.identity.resolve(None, {}, "10.1.2.3").actor == "sidecar"
    assert runtime.config.upstream_timeout == 30 and runtime.config.listen == "127.0.0.1:9999"


@pytest.mark.parametrize(
    "text", ["block_domains: 5\n", "identity: {actors: {a: {tokens: [plain]}}}\n", ": :\n"]
)
def test_invalid_file_keeps_the_running_config(tmp_path, text):
    path = tmp_path / "palaryn.yaml"
    path.write_text("block_domains: [a.test]\n")
    runtime = Runtime.build(load_config(path, environ={}), open_audit=False)
    before = (runtime.config, runtime.block_domains, runtime.identity)
    path.write_text(text)
    result = asyncio.run(reload.reload(runtime))
    assert not result.ok and result.error
    assert (runtime.config, runtime.block_domains, runtime.identity) == before
