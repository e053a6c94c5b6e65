"""The vault: start-up resolution, SIGHUP refresh, the scrubber following rotations, scrubbed streams."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from palaryn_proxy.credentials import parse_credentials
from palaryn_proxy.credentials.scrub import StreamScrubber
from palaryn_proxy.credentials.stream import ScrubbedStream
from palaryn_proxy.credentials.vault import Vault
from palaryn_proxy.errors import ConfigError
from palaryn_proxy.providers.decoding import ContentDecoder


def config(tmp_path: Path):
    return parse_credentials(
        [
            {"name": "a", "hosts": ["a.test"], "header": "x-a", "value_from": f"file:{tmp_path / 'a.key'}"},
            {"name": "b", "hosts": ["b.test"], "header": "x-b", "value_from": "env:B_REAL"},
            {"name": "aws", "hosts": ["aws.test"], "aws_sigv4": {}, "value_from": "env:AWS_REAL"},
        ],
        False,
    )


def test_start_names_every_unresolvable_credential(tmp_path: Path):
    vault = Vault(config(tmp_path), tmp_path / "certs", environ={"AWS_REAL": "not-a-pair"})
    with pytest.raises(ConfigError) as err:
        vault.start()
    text = str(err.value)
    assert "credential a" in text and "credential b: environment variable B_REAL" in text
    assert "credential aws" in text and "not-a-pair" not in text


def test_refresh_and_scrubber_follow_rotation(tmp_path: Path):
    (tmp_path / "a.key").write_text("first-secret-value")
    env = {"B_REAL": "b-secret-value-1", "AWS_REAL": "AKIAREAL00000000:realsecretrealsecret"}
    vault = Vault(config(tmp_path), tmp_path / "certs", environ=env)
    vault.start()
    assert vault.scrubber().scrub(b"x first-secret-value realsecretrealsecret")[1] == {"a", "aws"}
    env["B_REAL"] = "b-secret-value-2"
    (tmp_path / "a.key").write_text("second-secret-value")
    vault.refresh()
    assert vault.value("b") == "b-secret-value-2" and vault.value("a") == "second-secret-value"
    out, found = vault.scrubber().scrub(b"b-secret-value-1 b-secret-value-2 first-secret-value")
    assert found == {"a", "b"} and b"secret-value" not in out
    env.pop("B_REAL")
    vault.refresh()  # a failed re-read keeps the previous value
    assert vault.value("b") == "b-secret-value-2"


def test_scrubbed_stream_decodes_what_nobody_decoded(tmp_path: Path):
    (tmp_path / "a.key").write_text("first-secret-value")
    vault = Vault(config(tmp_path), tmp_path / "certs", environ={"B_REAL": "bbbbbbbbbb", "AWS_REAL": "K:S"})
    vault.sources["a"].resolve()
    body = gzip.compress(b"data: first-secret-value\n\n" * 3)
    stream = ScrubbedStream(None, ContentDecoder("gzip"), StreamScrubber(vault.scrubber()))
    parts = [stream(body[i : i + 7]) for i in range(0, len(body), 7)] + [stream(b"")]
    out = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in parts)
    assert out == b"data: [credential:a]\n\n" * 3 and stream.found == {"a"}
    assert all(p != b"" for p in parts[:-1])  # an empty write mid-stream could end a chunked body


def test_identity_stream_is_scrubbed_before_the_inner_stage(tmp_path: Path):
    (tmp_path / "a.key").write_text("first-secret-value")
    vault = Vault(config(tmp_path), tmp_path / "certs", environ={})
    vault.sources["a"].resolve()
    seen: list[bytes] = []

    def tap(chunk: bytes) -> list[bytes]:
        seen.append(chunk)
        return [chunk.upper()] if chunk else []

    stream = ScrubbedStream(tap, None, StreamScrubber(vault.scrubber()), first=True)
    text = b"data: first-secret-value\n\n" * 2
    parts = [stream(text[i : i + 5]) for i in range(0, len(text), 5)] + [stream(b"")]
    out = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in parts)
    assert out == b"DATA: [CREDENTIAL:A]\n\n" * 2
    assert b"secret" not in b"".join(seen) and seen[-1] == b"" and b"" not in seen[:-1]
