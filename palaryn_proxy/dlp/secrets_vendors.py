"""Vendor token formats beyond the first wave, written from each vendor's documented format (gitleaks' and
trufflehog's rule sets for the facts: prefixes, lengths, alphabets, the names that go with bare values)."""

from __future__ import annotations

from . import secrets_vendors_ai, secrets_vendors_biz, secrets_vendors_dev
from .detector import Detector

DETECTORS: tuple[Detector, ...] = (
    *secrets_vendors_ai.DETECTORS,
    *secrets_vendors_dev.DETECTORS,
    *secrets_vendors_biz.DETECTORS,
)
