"""Made-up secrets shaped like real ones, shared by the DLP tests (never issued by anyone)."""

from __future__ import annotations

import zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def github_token(body: str = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5") -> str:
    """A GitHub classic token: `ghp_`, 30 characters and their CRC32 in base62, as GitHub checks it."""
    crc, digits = zlib.crc32(body.encode()), ""
    while crc:
        crc, rem = divmod(crc, 62)
        digits = BASE62[rem] + digits
    return "ghp_" + body + digits.rjust(6, "0")
