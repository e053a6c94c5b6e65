"""DLP engine: secrets and PII found in every direction, redacted in place, prompt injection scored."""

# scanner = DlpScanner(DlpConfig.from_mapping(cfg.get("dlp", {}), cfg.get("injection", {})))  # once
# result = scanner.scan_request(host=..., path_and_query=..., headers=[...], body=b"...")
# result.action  -> "allow" | "redact" | "block"

from .compression import ContentDecodingError, StreamDecoder, decode_body
from .config import Action, DlpConfig, InjectionAction, OnTimeout, Oversize
from .model import Finding, InjectionResult, ScanResult
from .registry import ALL_DETECTORS, GROUPS
from .scanner import DlpScanner
from .stream import StreamScanner

__all__ = [
    "ALL_DETECTORS",
    "GROUPS",
    "Action",
    "ContentDecodingError",
    "DlpConfig",
    "DlpScanner",
    "Finding",
    "InjectionAction",
    "InjectionResult",
    "OnTimeout",
    "Oversize",
    "ScanResult",
    "StreamDecoder",
    "StreamScanner",
    "decode_body",
]
