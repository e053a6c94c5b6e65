"""Value sources: env, file (re-read on change), command (cached); a failed refresh keeps the last value."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from palaryn_proxy.credentials.config import Source
from palaryn_proxy.credentials.sources import ResolveError, ValueSource


def test_env():
    assert ValueSource("a", Source("env", "A"), {"A": " v1 \n"}).resolve() == "v1"
    with pytest.raises(ResolveError, match="A is not set"):
        ValueSource("a", Source("env", "A"), {}).resolve()


def test_file_is_read_again_when_it_changes(tmp_path: Path):
    path = tmp_path / "key"
    path.write_text("first-value\n")
    source = ValueSource("a", Source("file", str(path)))
    assert source.resolve() == "first-value"
    path.write_text("second-value-longer\n")
    assert source.current() == "second-value-longer" and source.previous == "first-value"
    path.unlink()
    assert source.current() == "second-value-longer"  # a vanished file keeps the last good value
    with pytest.raises(ResolveError, match="cannot read"):
        ValueSource("b", Source("file", str(path))).resolve()


def test_command_cache(tmp_path: Path):
    counter = tmp_path / "n"
    script = f"import pathlib; p = pathlib.Path({str(counter)!r}); n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); print(f'value-{{n}}')"
    source = ValueSource("c", Source("command", command=(sys.executable, "-c", script), cache_seconds=0.2))
    assert source.resolve() == "value-1" and not source.stale
    assert source.current() == "value-1"
    time.sleep(0.25)
    assert source.stale
    source.refresh()
    assert source.current() == "value-2"
    broken = ValueSource("d", Source("command", command=(sys.executable, "-c", "import sys; sys.exit(3)")))
    with pytest.raises(ResolveError, match="status 3"):
        broken.resolve()
    assert "value" not in str(os.environ.get("X", ""))
