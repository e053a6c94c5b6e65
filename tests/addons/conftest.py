"""Fixtures of the addon tests: `harness(config)` builds a configured pipeline inside taddons.context()."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.test import taddons

sys.path.insert(0, str(Path(__file__).parent))  # flowkit importable by the test modules

from flowkit import Harness  # noqa: E402


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Callable[..., Harness]]:
    """A factory of Harnesses (one work directory each), closed at the end of the test."""
    built: list[Harness] = []

    def build(config: dict[str, Any] | None = None) -> Harness:
        h = Harness(tmp_path / f"proxy{len(built)}", config or {})
        built.append(h)
        return h

    with taddons.context():
        yield build
        for h in built:
            await h.aclose()
