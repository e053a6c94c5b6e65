"""Whole records: when several kinds of personal data sit in one JSON object, table row, form or sentence, every
one of them is redacted (overlap resolution keeps side-by-side PII, redaction merges what overlaps)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from palaryn_proxy.dlp import DlpConfig, DlpScanner
from palaryn_proxy.dlp.detector import PII, SECRETS, Detector, rx
from palaryn_proxy.dlp.engine import Hit, resolve_overlaps
from palaryn_proxy.dlp.pii_records import tables
from palaryn_proxy.dlp.redact import apply_text
from palaryn_proxy.dlp.segment import Segment

SCANNER = DlpScanner(DlpConfig.from_mapping({"actions": {"pii": "redact"}}))
MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
RECORD = {
    "name": "Maria Lopez",
    "email": "maria.lopez@northwind-traders.co.uk",
    "phone": "(415) 555-0132",
    "dob": "1985-03-14",
    "ssn": "536-22-8114",
    "passport": "X12345678",
    "address": "1 Main St, Springfield",
    "iban": "DE44 5001 0517 5407 3249 31",
    "card": "4666 1760 3137 2159",
}
ITEMS = {k: v for k, v in RECORD.items() if k not in ("name", "address")}  # what the detectors know
TYPES = {"email", "phone", "date_of_birth", "us_ssn", "passport_number", "iban", "credit_card"}


def redact(body: str, content_type: str) -> tuple[str, set[str]]:
    r = SCANNER.scan_request(host="tools.example.net", body=body.encode(), content_type=content_type)
    return (r.redacted_body or b"").decode(), {f.type for f in r.findings}


def assert_all_redacted(out: str, types: set[str], expected: set[str] = TYPES) -> None:
    for key, value in ITEMS.items():
        assert value not in out and quote(value) not in out, key
    assert types == expected
    assert "Maria Lopez" in out  # what no detector knows is left as it was


def test_a_json_object_loses_every_item_and_stays_valid() -> None:
    for separators in ((", ", ": "), (",", ":")):
        out, types = redact(json.dumps(RECORD, separators=separators), "application/json")
        assert_all_redacted(out, types)
        doc = json.loads(out)
        assert doc["dob"] == "[REDACTED:date_of_birth]" and doc["passport"] == "[REDACTED:passport_number]"
        assert doc["address"] == "1 Main St, Springfield"


def test_a_nested_record_with_a_machine_readable_zone() -> None:
    doc = {"traveller": {**RECORD, "documents": [{"kind": "passport", "mrz": MRZ}]}}
    out, types = redact(json.dumps(doc), "application/json")
    assert_all_redacted(out, types, TYPES | {"passport_mrz"})
    assert json.loads(out)["traveller"]["documents"][0]["mrz"] == "[REDACTED:passport_mrz]"


def test_a_one_line_csv_record_without_a_header() -> None:
    out, types = redact(",".join(RECORD.values()), "text/csv")
    assert_all_redacted(out, types)


def test_a_csv_with_a_header_row() -> None:
    row = ",".join(f'"{v}"' if "," in v else v for v in RECORD.values())
    out, types = redact(",".join(RECORD) + "\n" + row + "\n", "text/csv")
    assert_all_redacted(out, types)
    assert out.startswith("name,email,phone,dob,ssn,passport,address,iban,card\nMaria Lopez,")


@pytest.mark.parametrize("delimiter", ["\t", ";", " | "])
def test_other_delimiters_and_header_names(delimiter: str) -> None:
    header = ["Name", "E-mail", "Mobile", "Date of Birth", "SSN", "Passport No.", "Address", "IBAN", "Card"]
    text = delimiter.join(header) + "\n" + delimiter.join(RECORD.values()) + "\n"
    if delimiter == " | ":
        text = (
            "| " + text.replace("\n", " |\n", 1).replace("\n" + "M", "\n|---|\n| M", 1).rstrip("\n") + " |\n"
        )
    out, types = redact(text, "text/plain")
    assert_all_redacted(out, types)


def test_header_columns_are_read_loosely_and_other_columns_left_alone() -> None:
    text = "id,phone,dob,passport_no,ssn,created_at\n17,4155550132,12.03.1984,K8R4T2Q9,471829316,2019-03-07\n"
    out, types = redact(text, "text/csv")
    assert out == "id,phone,dob,passport_no,ssn,created_at\n17,[REDACTED:phone],[REDACTED:date_of_birth]," \
        "[REDACTED:passport_number],[REDACTED:us_ssn],2019-03-07\n"  # fmt: skip
    assert types == {"phone", "date_of_birth", "passport_number", "us_ssn"}


def test_a_sentence_that_holds_a_whole_record() -> None:
    prose = (
        f"Maria Lopez ({RECORD['email']}, {RECORD['phone']}), born 14/03/1985, SSN {RECORD['ssn']}, "
        f"passport {RECORD['passport']}, IBAN {RECORD['iban']}, card {RECORD['card']}, lives at 1 Main St."
    )
    out, types = redact(prose, "text/plain")
    assert "14/03/1985" not in out
    assert_all_redacted(out, types)


def test_a_form_body() -> None:
    out, types = redact("&".join(f"{k}={v}" for k, v in RECORD.items()), "application/x-www-form-urlencoded")
    assert_all_redacted(out, types)


def test_values_in_fields_named_for_them() -> None:
    doc = {"user": {"mobilePhone": "0612345678", "birthDate": "1985-03-14T00:00:00Z", "passportNumber": "561234987",
                    "social_security_number": "471829316", "national_id": "536 22 8114"}}  # fmt: skip
    out, types = redact(json.dumps(doc), "application/json")
    user = json.loads(out)["user"]
    assert all(v.startswith("[REDACTED:") for v in user.values()), user
    assert types == {"phone", "date_of_birth", "passport_number", "us_ssn"}


@pytest.mark.parametrize(
    "text",
    [
        "id,email,phone,created_at\n17,ana.ruiz@correo-ejemplo.es,(415) 555-0199,2012-03-07\n",
        "2024-06-03 14:05:33 user ana.ruiz@correo-ejemplo.es called (415) 555-0199, order 1990-04-12,A1234567",
        "sku,price,updated\nA1234567,12.50,1990-04-12\nB7654321,9.99,1991-01-02\n",
    ],
)
def test_dates_and_codes_of_other_columns_and_lines_are_not_guessed(text: str) -> None:
    _, types = redact(text, "text/csv")
    assert not types & {"date_of_birth", "passport_number"}


def test_tables_are_parsed_once_per_text() -> None:
    text = "name,dob,city\nA,1990-01-02,X\nB,1991-02-03,Y\n\nnot, a, table row, here\n"
    found = tables(text)
    assert [t.header for t in found] == [("name", "dob", "city"), None]
    assert [text[s:e] for s, e in found[0].rows[1]] == ["B", "1991-02-03", "Y"]
    assert tables(text) is found


# -- overlap resolution and redaction -------------------------------------------------------------------------


def _hit(group: str, priority: int, start: int, end: int, container: str = "body") -> Hit:
    det = Detector(
        type=f"{group}{priority}", group=group, pattern=rx("x{5}"), keywords=("x",), priority=priority
    )
    return Hit(det, Segment("", (), container), start, end, "")


def test_pii_side_by_side_is_kept_when_it_overlaps_only_in_part() -> None:
    ssn, phone = _hit(PII, 25, 10, 21), _hit(PII, 15, 0, 14)
    assert resolve_overlaps([phone, ssn]) == [phone, ssn]
    inside = _hit(PII, 15, 12, 20)
    assert resolve_overlaps([ssn, inside]) == [ssn]  # nothing of it left to redact


def test_a_secret_still_takes_its_whole_span() -> None:
    secret, pii = _hit(SECRETS, 70, 10, 50), _hit(PII, 20, 40, 60)
    assert resolve_overlaps([pii, secret]) == [secret]
    low_secret = _hit(SECRETS, 10, 55, 70)
    assert resolve_overlaps([pii, low_secret]) == [pii]
    other = _hit(PII, 20, 40, 60, container="header:0")
    assert resolve_overlaps([secret, other]) == [secret, other]


def test_overlapping_spans_become_one_marker_and_keep_it() -> None:
    text = "call 415-555-2671 536-22-8114 now"
    spans = [(5, 22, "[REDACTED:phone]"), (18, 29, "[REDACTED:us_ssn]")]
    assert apply_text(text, spans) == "call [REDACTED:phone] now"
    # a finding streamed over several events: its first span may be an empty continuation
    assert (
        apply_text(text, [(5, 12, ""), (5, 17, "[REDACTED:phone]")])
        == "call [REDACTED:phone] 536-22-8114 now"
    )


def _sse(pieces: list[str]) -> bytes:
    events = [
        b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}).encode() + b"\n\n"
        for p in pieces
    ]
    return b"".join(events) + b"data: [DONE]\n\n"


def test_a_record_streamed_token_by_token_is_redacted() -> None:
    pieces = ["Her date of birth is ", "1985-03-14", ", passport ", "X123", "45678", ", and the MRZ:\n",
              MRZ, "\nemail ", "maria.lopez@", "northwind-traders.co.uk", " phone ", "(415)", " 555-0132", "."]  # fmt: skip
    st = SCANNER.stream_scanner(direction="response", content_type="text/event-stream")
    data = _sse(pieces)
    out = b"".join(st.feed(data[i : i + 7]) for i in range(0, len(data), 7)) + st.finish()
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"]["content"]
        for line in out.decode().split("\n\n")
        if line.startswith("data: {")
    )
    for value in ("1985-03-14", "X12345678", "45678", "ERIKSSON", "maria.lopez", "555-0132"):
        assert value not in text, value
    assert {f.type for f in st.findings} >= {
        "date_of_birth",
        "passport_number",
        "passport_mrz",
        "email",
        "phone",
    }


@pytest.mark.parametrize(
    "name",
    ["dob", "Date of Birth", "birthDate", "bday", "Geburtsdatum", "fecha_nac", "data_urodzenia", "生年月日",
     "passport_no", "Reisepass", "numero_pasaporte", "phone", "Telefonnummer", "mobile", "SSN",
     "social_security_number", "national_id", "tax_id"],
)  # fmt: skip
def test_every_column_name_read_holds_a_keyword_of_its_detector(name: str) -> None:
    """A column detector runs only on text holding one of its keywords: every name it reads must hold one."""
    from palaryn_proxy.dlp import pii_records as pr
    from palaryn_proxy.dlp.normalize import fold

    low = fold(name)[0].lower()
    columns = [(pr.dob_key_ok, pr._DOB_WORDS), (pr.passport_field, pr._PASSPORT_WORDS),
               (pr.phone_key_ok, pr._PHONE_WORDS), (pr.ssn_key_ok, pr._SSN_WORDS)]  # fmt: skip
    read = [words for named, words in columns if named(name)]
    assert read, name
    for words in read:
        assert any(k in low for k in words), name
