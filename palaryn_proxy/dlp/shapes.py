"""Cheap necessary conditions for a pattern: a text's UTF-8 bytes mapped to character classes, searched with `in`."""

from __future__ import annotations

from collections.abc import Iterator

# A regex scan for a character class costs a few ns per character; bytes.translate and `in` cost a fraction
# of that. A shape has one byte per UTF-8 byte, so a run of n characters of a class is a run of at least n
# marks. Non-ASCII bytes that may belong to a Unicode decimal digit (`\d`) count as digits: every
# continuation byte, and the lead bytes of the code point ranges holding one (test_fast_paths checks every code point).
DIGIT_LEADS = bytes([0xD9, 0xDB, 0xDF, 0xE0, 0xE1, 0xEA, 0xEF, 0xF0])
_MAYBE_DIGIT = b"0123456789" + bytes(range(0x80, 0xC0)) + DIGIT_LEADS
# Other bytes become `.`. A mark must differ from it modulo 64: CPython's substring search skips ahead
# using a 64-bit bloom filter of the needle's bytes, and a collision makes `in` several times slower.
MARK = b"x"


def _table(*classes: tuple[bytes, bytes]) -> bytes:
    """A bytes.translate table: each byte of a class to its mark, every other byte to `.`."""
    table = bytearray(b"." * 256)
    for members, mark in classes:
        for b in members:
            table[b] = mark[0]
    return bytes(table)


DIGITS = _table((_MAYBE_DIGIT, b"0"), (b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"A"))  # `\d` as 0, `[A-Z]` as A
NUMBERISH = _table((_MAYBE_DIGIT + b" ().+-", MARK))  # `[\d ().+-]`
NUMBERISH_SLASH = _table((_MAYBE_DIGIT + b" ().+/-", MARK))  # `[\d ().+/-]`: numbers written `030/1234567`
# The characters of an unquoted assignment value (`[^\s"'`,;\\<>&]`), ASCII only: a non-ASCII byte ends a
# run (a Unicode space may hide behind it), which can only shorten the runs a scan skips.
VALUE_CHARS = _table((bytes(b for b in range(0x21, 0x80) if chr(b) not in "\"'`,;\\<>&"), MARK))
BASE64 = _table((b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-", MARK))


def shape(text: str, table: bytes) -> bytes:
    return text.encode("utf-8", "surrogatepass").translate(table)


def has(text: str, table: bytes, needle: bytes) -> bool:
    """Does the shape of text under table contain needle? (False: no match of the pattern it stands for.)"""
    return needle in shape(text, table)


def runs(text: str, table: bytes, n: int) -> Iterator[tuple[int, int]]:
    """The maximal runs of at least n MARKs in the shape of text under table (NUMBERISH, BASE64), as byte
    offsets: positions in the text itself only if it is ASCII."""
    sh = shape(text, table)
    need = MARK * n
    pos = sh.find(need)
    while pos != -1:
        end = sh.find(b".", pos + n)
        end = len(sh) if end == -1 else end
        yield sh.rfind(b".", 0, pos) + 1, end
        pos = sh.find(need, end)
