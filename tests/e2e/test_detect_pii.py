"""Personal data through the real proxy with `dlp: {actions: {pii: redact}}`: a whole record in a request body over
CONNECT, dates of birth, passport numbers and machine-readable zones in a response body and in an SSE stream, and
the audit record naming each type."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from e2e.harness import Proxy

MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
RECORD = {
    "name": "Maria Lopez",
    "email": "maria.lopez@northwind-traders.co.uk",
    "phone": "(415) 555-0132",
    "mobile": "+44 7700 900123",
    "dob": "1985-03-14",
    "ssn": "536-22-8114",
    "passport": "X12345678",
    "iban": "DE44 5001 0517 5407 3249 31",
    "card": "4666 1760 3137 2159",
    "mrz": MRZ,
    "address": "1 Main St, Springfield",
}
ITEMS = [v for k, v in RECORD.items() if k not in ("name", "address")]
IDENTITY = {"date_of_birth", "passport_number", "passport_mrz"}
ANSWER = "Traveller born 12 April 1990, passport number C01X00T47, MRZ " + MRZ.replace("\n", " ") + " ok"
ANSWER_ITEMS = ("12 April 1990", "C01X00T47", "ERIKSSON", "L898902C36")


def client(proxy: Proxy) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(proxy.ca_file))
    return httpx.Client(proxy=proxy.url, verify=trust, timeout=30, trust_env=False)


@pytest.fixture(scope="module")
def pii_proxy(tmp_path_factory, upstream, shared_certs):
    from e2e.harness import start_proxy

    p = start_proxy(
        tmp_path_factory.mktemp("pii-proxy"), upstream, shared_certs, {"dlp": {"actions": {"pii": "redact"}}}
    )
    yield p
    p.stop()


def _types(record: dict, direction: str) -> set[str]:
    return {f["type"] for f in record["dlp"] if f["direction"] == direction and f["action"] == "redact"}


def test_every_item_of_a_record_is_redacted_before_the_upstream_sees_it(pii_proxy, upstream):
    upstream.app.serve_fixture("/v1/records", b'{"ok": true}', "application/json", chunks=1)
    before = len(upstream.app.seen)
    with client(pii_proxy) as c:  # an https:// URL through the proxy: a CONNECT tunnel
        resp = c.post("https://upstream.test/v1/records", json={"customer": RECORD, "note": "import"})
    assert resp.status_code == 200
    sent = [s for s in upstream.app.seen[before:] if s["path"] == "/v1/records"][-1]["body"].decode()
    for value in ITEMS:
        assert value not in sent and value.split("\n")[0] not in sent, value
    doc = json.loads(sent)  # still valid JSON
    customer = doc["customer"]
    assert customer["name"] == "Maria Lopez" and customer["address"] == "1 Main St, Springfield"
    assert customer["dob"] == "[REDACTED:date_of_birth]" and customer["mrz"] == "[REDACTED:passport_mrz]"
    assert all(customer[k].startswith("[REDACTED:") for k in RECORD if k not in ("name", "address"))
    record = pii_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert record["decision"] == "redact"
    assert _types(record, "request") >= IDENTITY | {"email", "phone", "us_ssn", "iban", "credit_card"}
    assert not any(v in json.dumps(record) for v in ITEMS)  # the audit keeps hashes, never values


def test_identity_data_in_a_response_body_is_redacted(pii_proxy, upstream):
    body = json.dumps({"booking": "BK-2231", "summary": ANSWER}).encode()
    upstream.app.serve_fixture("/v1/booking", body, "application/json")
    with client(pii_proxy) as c:
        resp = c.get("https://upstream.test/v1/booking")
    assert resp.status_code == 200
    summary = resp.json()["summary"]
    assert not any(v in summary for v in ANSWER_ITEMS)
    assert summary.startswith(
        "Traveller born [REDACTED:date_of_birth], passport number [REDACTED:passport_number]"
    )
    record = pii_proxy.record_for(resp.headers["x-palaryn-request-id"])
    assert _types(record, "response") == IDENTITY


def test_identity_data_in_an_sse_stream_is_redacted(pii_proxy, upstream):
    pieces = ["Traveller born ", "12 April 1990", ", passport number ", "C01X00T47", ", MRZ ",
              MRZ.replace("\n", " "), " ok"]  # fmt: skip
    events = [
        {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": p}}]}
        for p in pieces
    ]  # fmt: skip
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events).encode() + b"data: [DONE]\n\n"
    upstream.app.serve_fixture("/v1/chat/completions", body, "text/event-stream", chunks=6, delay=0.05)
    before = len(pii_proxy.records())
    with client(pii_proxy) as c:
        with c.stream(
            "POST",
            "https://api.openai.com/v1/chat/completions",
            json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "trip?"}]},
        ) as resp:
            received = b"".join(resp.iter_raw())
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in received.decode().split("\n\n")
        if line.startswith("data: {")
    )
    assert not any(v in text for v in ANSWER_ITEMS)
    assert text.startswith("Traveller born [REDACTED:date_of_birth]") and text.endswith(" ok")
    record = pii_proxy.next_record(before)
    assert _types(record, "response") == IDENTITY
