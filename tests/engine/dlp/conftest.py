"""Shared fixtures of the DLP engine tests: a default scanner and the labelled corpora."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from palaryn_proxy.dlp import DlpConfig, DlpScanner

sys.path.insert(0, str(Path(__file__).parent))  # dlp_fakes importable by the test modules

CORPUS = Path(__file__).parent / "corpus"


def load_corpus(name: str) -> dict[str, Any]:
    return yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def scanner() -> DlpScanner:
    return DlpScanner(DlpConfig.from_mapping({}))
