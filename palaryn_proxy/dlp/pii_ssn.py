"""US Social Security numbers in fields named for them (`ssn`, `social_security_number`, `national_id`)."""

from __future__ import annotations

from .detector import PII, Detector, rx
from .pii_words import key_words
from .validators import ssn_ok

_NOT_THE_NUMBER = frozenset("last last4 masked verified type format country hash suffix".split())


def ssn_key_ok(name: str) -> bool:
    """`ssn`, `social_security_number`, `socialSecurityNo`, `national_id`, `tax_id`; not `ssn_last4`."""
    words = key_words(name)
    if any(w in _NOT_THE_NUMBER for w in words) or "4" in words:
        return False
    joined = "".join(words)
    return "ssn" in words or "socialsecurity" in joined or joined in ("nationalid", "taxid")


def keyed_ssn_ok(value: str) -> bool:
    """Nine digits (grouped 3-2-4 or not) that a Social Security number may be."""
    digits = value.replace("-", "").replace(" ", "")
    return len(digits) == 9 and digits.isdigit() and ssn_ok(f"{digits[:3]}-{digits[3:5]}-{digits[5:]}")


DETECTORS: tuple[Detector, ...] = (
    Detector(
        type="us_ssn",
        group=PII,
        pattern=rx(r"^\s{0,3}(\d{3}[- ]?\d\d[- ]?\d{4})\s{0,3}$"),
        key=rx(r"(?i)ssn|social|national|tax"),
        key_filter=ssn_key_ok,
        value_group=1,
        validate=keyed_ssn_ok,
        placeholder_check=False,
        priority=25,
    ),
)
