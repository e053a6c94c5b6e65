"""UTF-16 and UTF-32 bodies: told by a BOM, a charset parameter or JSON's NUL pattern; decoded with a map to their bytes."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from .offsets import MapBuilder, OffsetMap

_BOMS = (  # UTF-32LE first: its BOM starts with UTF-16LE's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET = re.compile(r";\s*+charset\s*+=\s*+\"?([A-Za-z0-9_-]{1,40})", re.I)
# Charset names to codecs; without a BOM or a NUL pattern, `utf-16` and `utf-32` are big-endian (RFC 2781).
_NAMED = {"utf-16le": "utf-16-le", "utf-16be": "utf-16-be", "utf-32le": "utf-32-le", "utf-32be": "utf-32-be",
          "utf-16": "utf-16-be", "utf-32": "utf-32-be"}  # fmt: skip
_NUL_SNIFF = 64  # bytes looked at for the side of the NUL bytes
_ASTRAL_RUNS = re.compile("([\x00-\uffff]++)|([\U00010000-\U0010ffff]++)")


@dataclass(frozen=True, slots=True)
class Wide:
    codec: str  # "utf-16-le", "utf-16-be", "utf-32-le" or "utf-32-be": no BOM of its own
    bom: int = 0  # length of the byte order mark the body starts with

    @property
    def unit(self) -> int:
        return 4 if self.codec.startswith("utf-32") else 2


def _sniff(head: bytes) -> str | None:
    """The encoding of text whose first two characters are ASCII, from where its NUL bytes are (as RFC 4627
    told the encoding of JSON): `{\\x00"\\x00` is UTF-16LE, `\\x00\\x00\\x00{` UTF-32BE."""
    if len(head) < 4 or 0 not in head:
        return None
    nul = (head[0] == 0, head[1] == 0, head[2] == 0, head[3] == 0)
    return {
        (True, True, True, False): "utf-32-be",
        (False, True, True, True): "utf-32-le",
        (True, False, True, False): "utf-16-be",
        (False, True, False, True): "utf-16-le",
    }.get(nul)


def detect(body: bytes, content_type: str) -> Wide | None:
    """How a UTF-16 or UTF-32 body is encoded; None for any other body (read as UTF-8). A BOM decides, then
    a charset parameter naming the byte order; a body declared in another charset is not sniffed."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Wide(codec, len(bom))
    m = _CHARSET.search(content_type)
    named = m.group(1).lower() if m else None
    if named is not None and named not in _NAMED:
        return None
    if named is not None and named[-2:] in ("le", "be"):
        return Wide(_NAMED[named])
    sniffed = _sniff(body[:4]) or _nul_side(body[:_NUL_SNIFF])
    if sniffed is not None and (named is None or sniffed.startswith(named)):
        return Wide(sniffed)
    return Wide(_NAMED[named]) if named is not None else None


def _nul_side(head: bytes) -> str | None:
    """UTF-16 whose text starts with non-ASCII characters (the 4-byte sniff cannot tell): the side of the
    code units most of its NUL bytes are on (ASCII characters have one), if nearly all are on one side."""
    units = len(head) // 2
    if units < 8:
        return None
    odd, even = head[1 : units * 2 : 2].count(0), head[0 : units * 2 : 2].count(0)
    if odd * 2 >= units and even * 8 <= odd:
        return "utf-16-le"
    if even * 2 >= units and odd * 8 <= even:
        return "utf-16-be"
    return None


def decode(body: bytes, wide: Wide) -> tuple[str, OffsetMap] | None:
    """The text of the body (a trailing partial code unit left out) and its map to byte offsets; None if the
    bytes are not in that encoding after all."""
    unit = wide.unit
    data = body[wide.bom : wide.bom + (len(body) - wide.bom) // unit * unit]
    try:
        text = data.decode(wide.codec, "surrogatepass")  # a lone surrogate stays one character
    except UnicodeDecodeError:
        if unit == 2:
            return None
        text = data.decode(wide.codec, "replace")  # UTF-32 beyond U+10FFFF: one U+FFFD per 4 bytes
    if unit == 4 or len(text) * 2 == len(data):  # every character one code unit
        whole = OffsetMap()
        whole.add(wide.bom, len(data), len(text), unit)
        return text, whole
    b = MapBuilder()
    pos = wide.bom
    for m in _ASTRAL_RUNS.finditer(text):  # a character beyond U+FFFF is a surrogate pair: 4 bytes
        width = 2 if m.lastindex == 1 else 4
        b.copy(m.group(), pos, width)
        pos += len(m.group()) * width
    return b.build()


def transcode(body: bytes, wide: Wide) -> bytes:
    """The body as UTF-8 (for checks that read UTF-8 bytes)."""
    decoded = decode(body, wide)
    return decoded[0].encode("utf-8", "surrogatepass") if decoded else body
