"""What DLP scans of a decoded body: the size choice past max_decoded_bytes, notes on damaged encodings."""

from __future__ import annotations

from dataclasses import dataclass

from ..types import DecodedBody, Reason
from .config import DlpConfig, Oversize


@dataclass(frozen=True, slots=True)
class BodyPlan:
    scan: bytes | None  # what the scanner gets
    notes: tuple[Reason, ...] = ()  # flag the flow with these
    block: Reason | None = None  # refuse the flow (dlp.oversize: block)
    unredactable: Reason | None = None  # set when `scan` is a prefix: a redaction of it must not be written


def plan_body(body: DecodedBody, config: DlpConfig, direction: str) -> BodyPlan:
    """A body decoding past the cap is forwarded as sent, so what the scanner finds in its decoded prefix
    cannot be redacted in place; `dlp.oversize` decides: scan_prefix scans the prefix (and a redaction it
    needs refuses the flow instead), pass skips the scan, block refuses. Both pass and scan_prefix flag."""
    if not config.enabled:
        return BodyPlan(None)
    notes: list[Reason] = []
    if body.undecodable:
        notes.append(
            Reason(
                "dlp", "undecodable_body", f"{direction} body not decodable ({body.problem}): scanned as sent"
            )
        )
    elif body.problem:
        notes.append(
            Reason("dlp", "decoded_leniently", f"{direction} body: {body.problem}; scanned what decodes")
        )
    if not body.oversize:
        return BodyPlan(body.data or None, tuple(notes))
    cap = len(body.data)
    what = f"{direction} body decodes to more than max_decoded_bytes={cap}"
    if config.oversize is Oversize.BLOCK:
        return BodyPlan(None, tuple(notes), block=Reason("dlp", "decoded_oversize", what))
    if config.oversize is Oversize.PASS:
        notes.append(Reason("dlp", "decoded_oversize", f"{what}: passed unscanned"))
        return BodyPlan(None, tuple(notes))
    notes.append(Reason("dlp", "decoded_oversize", f"{what}: scanned its first {cap} decoded bytes"))
    unredactable = Reason(
        "dlp",
        "decoded_oversize",
        f"a finding to redact in the first {cap} decoded bytes of a {direction} body that decodes to more "
        "than max_decoded_bytes: it cannot be redacted in the body as sent",
    )
    return BodyPlan(body.data, tuple(notes), unredactable=unredactable)
