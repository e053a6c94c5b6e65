"""Identity documents and dates of birth: passport numbers, ICAO machine-readable passport lines, dates near birth words."""

from __future__ import annotations

from . import pii_birth, pii_mrz, pii_passport, pii_records
from .detector import Detector

DETECTORS: tuple[Detector, ...] = (
    *pii_birth.DETECTORS,
    *pii_passport.DETECTORS,
    *pii_mrz.DETECTORS,
    *pii_records.DETECTORS,
)
