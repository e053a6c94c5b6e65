"""Log redaction and the JSON formatter: credentials masked whatever their shape, long messages cut."""

from __future__ import annotations

import json
import logging
import sys

from palaryn_proxy.serve.logs import MAX_MESSAGE, JsonFormatter, Redactor


def test_redactor_masks_credentials_in_every_shape():
    redact = Redactor(["api_key", "token"])
    text = (
        "connect http://agent:s3cr3t-token@127.0.0.1:8080 "
        "Authorization: Bearer abc.def.ghi proxy-authorization=Basic dXNlcjpwYXNz "
        "x-api-key: k-123456 url https://h/p?api_key=AAA&x=1&token=BBB "
        "key sk-proj-0123456789abcdefXYZ aws AKIAABCDEFGHIJKLMNOP"
    )
    out = redact(text)
    for secret in ("s3cr3t-token", "abc.def.ghi", "dXNlcjpwYXNz", "k-123456", "AAA", "BBB",
                   "sk-proj-0123456789abcdefXYZ", "AKIAABCDEFGHIJKLMNOP"):  # fmt: skip
        assert secret not in out, secret
    assert "http://agent:***@127.0.0.1:8080" in out and "&x=1&" in out


def test_redactor_leaves_plain_text_and_cuts_long_messages():
    redact = Redactor()
    assert redact("upstream api.openai.com:443 reset") == "upstream api.openai.com:443 reset"
    assert len(redact("x" * (MAX_MESSAGE * 3))) < MAX_MESSAGE + 20


def test_json_formatter_one_object_per_line_with_exception_type():
    formatter = JsonFormatter(Redactor())
    try:
        raise ValueError("bad sk-abcdefghijklmnop1234")
    except ValueError:
        record = logging.LogRecord(
            "palaryn", logging.ERROR, __file__, 1, "stage %s failed", ("x",), sys.exc_info()
        )
    line = formatter.format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "error" and data["logger"] == "palaryn" and data["message"] == "stage x failed"
    assert (
        data["ts"].endswith("Z")
        and "ValueError" in data["exc"]
        and "sk-abcdefghijklmnop1234" not in data["exc"]
    )
