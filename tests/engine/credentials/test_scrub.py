"""Scrubbing real values from responses: exact, URL-encoded, JSON-escaped, base64 at any alignment, and
streams split anywhere."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest

from palaryn_proxy.credentials.scrub import Scrubber, StreamScrubber

REAL = "sk-real/Key+With=Odd_chars-1234567890abcdef"
SCRUB = Scrubber([("openai", REAL), ("short", "abc")])


@pytest.mark.parametrize(
    "form",
    [
        REAL,
        quote(REAL, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(REAL, safe="")),
        REAL.replace("/", "\\/"),
        base64.b64encode(REAL.encode()).decode(),
        base64.urlsafe_b64encode(REAL.encode()).decode(),
        base64.b64encode(b"user:" + REAL.encode()).decode(),
        base64.b64encode(b"xy" + REAL.encode() + b"tail").decode(),
    ],
)
def test_every_form_is_scrubbed(form):
    data = b'{"error": "invalid key ' + form.encode() + b' given"}'
    out, found = SCRUB.scrub(data)
    assert found == {"openai"} and b"[credential:openai]" in out
    assert REAL.encode() not in out and form.encode() not in out


def test_short_values_and_clean_text_are_left_alone():
    out, found = SCRUB.scrub(b"abc abc nothing here")
    assert out == b"abc abc nothing here" and not found


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, 64])
def test_stream_split_anywhere(size):
    text = f'data: {{"k": "{REAL}"}}\n\ndata: {base64.b64encode(REAL.encode()).decode()}\n\n'.encode()
    stream = StreamScrubber(SCRUB)
    out = b"".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size)) + stream.finish()
    assert REAL.encode() not in out and out.count(b"[credential:openai]") == 2 and stream.found == {"openai"}


def test_stream_holds_back_only_a_possible_prefix():
    stream = StreamScrubber(SCRUB)
    assert stream.feed(b"data: hello\n\n") == b"data: hello\n\n"
    assert stream.feed(b"x sk-re") == b"x "
    assert stream.feed(b"al no") == b"sk-real no"
