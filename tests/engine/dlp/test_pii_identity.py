"""Dates of birth, passport numbers, machine-readable zones and national phone formats: parsing, check digits, the
exact spans found, field names, and the prefilter's literals (every finding's text holds one)."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import date

import pytest
from conftest import load_corpus
from dlp_fakes import fill

from palaryn_proxy.dlp import DlpConfig, DlpScanner, hsprefilter, pii_identity, pii_phone
from palaryn_proxy.dlp.detector import TextView
from palaryn_proxy.dlp.pii_birth import dob_key_ok
from palaryn_proxy.dlp.pii_dates import parse_date
from palaryn_proxy.dlp.pii_mrz import check_digit, td1_ok, td2_ok, td3_ok
from palaryn_proxy.dlp.pii_passport import passport_field, passport_ok
from palaryn_proxy.dlp.pii_phone import phone_key_ok
from palaryn_proxy.dlp.pii_ssn import ssn_key_ok
from palaryn_proxy.dlp.registry import ALL_DETECTORS, Prefilter

SCANNER = DlpScanner(DlpConfig.from_mapping({"actions": {"pii": "redact"}}))
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")


def found(text: str, content_type: str = "text/plain") -> list[tuple[str, str]]:
    """(type, the original text of the finding) of each finding in a request body."""
    body = text.encode()
    result = SCANNER.scan_request(host="tools.example.net", body=body, content_type=content_type)
    return [(f.type, body[f.start : f.end].decode()) for f in result.findings]


# -- dates ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-04-12", date(1990, 4, 12)),
        ("1990/04/12", date(1990, 4, 12)),
        ("12.04.1990", date(1990, 4, 12)),
        ("04/28/1990", date(1990, 4, 28)),  # M/D/Y when D/M/Y is no date
        ("28-04-1990", date(1990, 4, 28)),
        ("12/04/85", date(1985, 4, 12)),
        ("April 12, 1990", date(1990, 4, 12)),
        ("12 avril 1990", date(1990, 4, 12)),
        ("12. März 1990", date(1990, 3, 12)),
        ("12 de abril de 1990", date(1990, 4, 12)),
        ("12 kwietnia 1990", date(1990, 4, 12)),
        ("12 апреля 1990", date(1990, 4, 12)),
        ("12 Nisan 1990", date(1990, 4, 12)),
        ("1990年4月12日", date(1990, 4, 12)),
        ("19900412", date(1990, 4, 12)),
        ("1990-04-12T00:00:00Z", date(1990, 4, 12)),
        ("31/02/1990", None),  # no such day
        ("12/04-1990", None),  # two separators
        ("1850-01-01", None),  # too old to be a birth date
        ("2999-01-01", None),  # in the future
    ],
)
def test_dates_are_parsed_and_checked(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


# -- dates of birth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("DOB: 1990-04-12", "1990-04-12"),
        ("D.O.B. 12/04/1990", "12/04/1990"),
        ("Date of birth (MM/DD/YYYY): 04/12/1990", "04/12/1990"),
        ("She was born on April 12, 1990 in Leeds.", "April 12, 1990"),
        ("born in London on 3 March 1985", "3 March 1985"),
        ("Geburtsdatum: 12.04.1990", "12.04.1990"),
        ("geb. 12. März 1990 in Köln", "12. März 1990"),
        ("née à Lyon le 1er avril 1990", "1er avril 1990"),
        ("Nacido el 12 de abril de 1990", "12 de abril de 1990"),
        ("F. nac.: 12/04/1990", "12/04/1990"),
        ("nata a Roma il 12/04/1990", "12/04/1990"),
        ("Data de nascimento: 12 de abril de 1990", "12 de abril de 1990"),
        ("geboren op 12-04-1990", "12-04-1990"),
        ("urodzony 12 kwietnia 1990 r.", "12 kwietnia 1990"),
        ("Född 1990-04-12", "1990-04-12"),
        ("født 12.04.1990", "12.04.1990"),
        ("Doğum tarihi: 12.04.1990", "12.04.1990"),
        ("ДАТА РОЖДЕНИЯ: 12.04.1990", "12.04.1990"),
        ("родилась 12 апреля 1990 г.", "12 апреля 1990"),
        ("生年月日：1990年4月12日", "1990年4月12日"),
        ("出生日期：1990-04-12", "1990-04-12"),
        ("<td>Date of birth</td><td>12/04/1990</td>", "12/04/1990"),
    ],
)
def test_a_date_after_a_birth_word_is_a_date_of_birth(text: str, value: str) -> None:
    assert found(text) == [("date_of_birth", value)]


@pytest.mark.parametrize(
    "text",
    [
        "Invoice date: 12/04/2024",
        "Born to Run was released on August 25, 1975.",
        "Born in the USA, released June 4, 1984",
        "created: 1990-04-12, version 1.2.3",
        "DOB: 31/02/1990 or 2099-01-01",
        "adobe 1990-04-12",
        "NATO: 4 April 1949",
        "birthday party on 2024-05-03",
        "DOB field format is YYYY-MM-DD, e.g. 2000-01-01",
    ],
)
def test_other_dates_are_not(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("dob", True),
        ("DOB", True),
        ("date_of_birth", True),
        ("birthDate", True),
        ("patientDob", True),
        ("Geburtsdatum", True),
        ("fecha_nacimiento", True),
        ("дата_рождения", True),
        ("生年月日", True),
        ("place_of_birth", False),
        ("birth_country", False),
        ("dob_verified", False),
        ("adobeVersion", False),
        ("birth_year", False),
    ],
)
def test_birth_date_field_names(name: str, ok: bool) -> None:
    assert dob_key_ok(name) is ok


def test_a_birth_date_field_is_redacted_whole_and_json_stays_valid() -> None:
    body = json.dumps({"birthDate": "1990-04-12T00:00:00.000Z", "plan": "basic"}).encode()
    r = SCANNER.scan_request(host="h", body=body, content_type="application/json")
    assert json.loads(r.redacted_body or b"") == {"birthDate": "[REDACTED:date_of_birth]", "plan": "basic"}


# -- passport numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "561234987",  # US, UK: 9 digits
        "X12345678",  # US: a letter and 8 digits
        "C01X00T47",  # DE
        "12AB34567",  # FR
        "YA1234567",  # IT
        "AAA123456",  # ES
        "NXBR34FK6",  # NL
        "AB1234567",  # PL
        "J8369854",  # IN
        "E12345678",  # CN
        "45 06 123456",  # RU series and number
    ],
)
def test_national_passport_formats(value: str) -> None:
    assert passport_ok(value)
    assert found(f"Passport number: {value}, issued 2019") == [("passport_number", value)]


@pytest.mark.parametrize(
    "text",
    [
        "Order number 561234987 shipped",
        "tracking 1Z999AA10123456784",
        "passport expires 2031-04-12",
        "passport photo 35x45 mm",
        "passport: 111111111",
        "Passport office opened in 2019, ticket 12345678",
        "passport number: 20190412",
        "invoice AB1234567",
    ],
)
def test_passport_numbers_need_the_word_and_a_format(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("passport", True),
        ("passport_number", True),
        ("passportNo", True),
        ("Reisepassnummer", True),
        ("numero_pasaporte", True),
        ("passport_expiry", False),
        ("passport_country", False),
        ("password", False),
        ("boarding_pass", False),
    ],
)
def test_passport_field_names(name: str, ok: bool) -> None:
    assert passport_field(name) is ok


# -- machine-readable zones -----------------------------------------------------------------------------------


def test_check_digits_of_the_icao_specimen() -> None:
    assert check_digit("L898902C3") == 6 and check_digit("740812") == 2 and check_digit("120415") == 9
    assert td3_ok(TD3[1]) and td1_ok(TD1[0], TD1[1]) and td2_ok(TD2[1])
    assert not td3_ok(TD3[1][:-1] + "1")


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\\n", " ", "\n    ", ""])
def test_a_passport_zone_is_found_whatever_separates_its_lines(sep: str) -> None:
    text = f"MRZ: {TD3[0]}{sep}{TD3[1]} (scanned)"
    assert found(text) == [("passport_mrz", f"{TD3[0]}{sep}{TD3[1]}")]


def test_identity_card_zones_and_a_lone_line_2() -> None:
    assert found("\n".join(TD1)) == [("passport_mrz", "\n".join(TD1))]
    assert found("\n".join(TD2)) == [("passport_mrz", "\n".join(TD2))]
    assert found(f"line 2: {TD3[1]}.") == [("passport_mrz", TD3[1])]


@pytest.mark.parametrize(
    "text",
    [
        f"{TD3[0]}\n{TD3[1][:-1]}1",  # composite check digit wrong
        f"{TD3[0]}\n{TD3[1][:9]}5{TD3[1][10:]}",  # document number check digit wrong
        f"{TD1[0]}\n{TD1[1][:-1]}7\n{TD1[2]}",
        "std::cout << x << std::endl; <<<<<<< HEAD",
    ],
)
def test_zones_with_wrong_check_digits_are_not_found(text: str) -> None:
    assert found(text) == []


def test_a_zone_in_json_is_redacted_and_the_json_stays_valid() -> None:
    for mrz in (f"{TD3[0]}\n{TD3[1]}", f"{TD3[0]}\\n{TD3[1]}"):  # a line break, or an escaped one as text
        body = json.dumps({"document": {"mrz": mrz, "type": "P"}}).encode()
        r = SCANNER.scan_request(host="h", body=body, content_type="application/json")
        assert json.loads(r.redacted_body or b"")["document"] == {
            "mrz": "[REDACTED:passport_mrz]",
            "type": "P",
        }


# -- phones ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "415 555 2671",
        "1-415-555-2671",
        "1 (415) 555-2671",
        "+1 415 555 2671",
        "(555) 123-4567",
        "415-555-0132",
        "001-415-555-2671",
        "020 7946 0958",
        "07700 900123",
        "+44 20 7946 0958",
        "030 12345678",
        "0151 23456789",
        "030/12345678",
        "+49 151 23456789",
        "01 23 45 67 89",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "+33 6 12 34 56 78",
        "06 1234 5678",
        "312 345 6789",
        "+39 06 1234 5678",
        "612 34 56 78",
        "+34 612 34 56 78",
        "22 123 45 67",
        "+48 512 345 678",
        "020 123 4567",
        "06 12345678",
        "06-12345678",
        "+31 6 12345678",
    ],
)
def test_national_and_international_phone_formats(number: str) -> None:
    assert found(f"Reach her at {number} today.") == [("phone", number)]


@pytest.mark.parametrize("number", ["4155552671", "912 345 678", "512 345 678", "347 1234567", "0612345678"])
def test_bare_and_amount_like_numbers_need_a_phone_word(number: str) -> None:
    assert found(f"ref {number}") == []
    for word in ("call", "Phone:", "Teléfono", "Telefon:", "cellulare", "mobile", "Tel."):
        assert found(f"{word} {number}") == [("phone", number)], word


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Front desk (555) 123-4567 ext. 204", "(555) 123-4567"),
        ("Tel. +44 20 7946 0958 ext. 12", "+44 20 7946 0958 ext. 12"),
        ("cell: 415-555-2671 x12", "415-555-2671 x12"),
        ("Fax 312-555-0104x220", "312-555-0104x220"),
        ("Office 312-555-0104x220", "312-555-0104"),
    ],
)
def test_extensions(text: str, number: str) -> None:
    assert found(text) == [("phone", number)]


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345678 total 912 345 678 EUR",
        "Timestamp 1717430400000 and epoch 1717430400",
        "Released on 2024-06-03 at 14:05:33 UTC; build 2024.06.03-1; version 10.4.12",
        "ISBN 978-0-306-40615-7 and ISBN 0-306-40615-2",
        "01-02-2024 10:30 meeting",
        "Serial: 0123-4567-8901",
        "hotel 4155552671, callback 4155552671, telemetry 2024.06.03.1",
        "call 911 or 112",
        "call 1 2 3 4 5 6 7 8 9",
        "Numbers like 123-456-7890 and (555) 010-1234 are not valid.",
        "Population 1 234 567 and 22 123 456 in 2020",
    ],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert found(text) == []


def test_card_numbers_and_ibans_are_not_phones() -> None:
    assert found("card 4666 1760 3137 2159") == [("credit_card", "4666 1760 3137 2159")]
    assert found("IBAN DE44 5001 0517 5407 3249 31") == [("iban", "DE44 5001 0517 5407 3249 31")]


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("phone", True),
        ("phoneNumber", True),
        ("mobile_phone", True),
        ("tel", True),
        ("contact.cell", True),
        ("Telefonnummer", True),
        ("handynummer", True),
        ("phone_verified", False),
        ("telemetry", False),
        ("phone_country_code", False),
    ],
)
def test_phone_field_names(name: str, ok: bool) -> None:
    assert phone_key_ok(name) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ssn", True),
        ("SSN", True),
        ("social_security_number", True),
        ("nationalId", True),
        ("ssn_last4", False),
    ],
)
def test_ssn_field_names(name: str, ok: bool) -> None:
    assert ssn_key_ok(name) is ok


def test_phone_field_values_are_read_loosely() -> None:
    body = json.dumps({"phone": "4155550132", "mobile": "0612345678", "fax": "n/a"}).encode()
    r = SCANNER.scan_request(host="h", body=body, content_type="application/json")
    assert [f.type for f in r.findings] == ["phone", "phone"]


# -- the prefilter --------------------------------------------------------------------------------------------

NEW = [d for d in ALL_DETECTORS if d in pii_identity.DETECTORS or d in pii_phone.DETECTORS]


def _corpus_texts() -> list[str]:
    corpus = load_corpus("pii_identity.yaml")
    return [fill(p["text"]) for p in corpus["positives"]] + [fill(t) for t in corpus["negatives"]]


def test_the_keyword_prefilter_picks_every_detector_that_finds_something() -> None:
    """Without Hyperscan (or on text that is not ASCII) the literals decide: they must be in every text a
    detector finds something in, folded and lower-cased as the scanned text is."""
    prefilter = Prefilter(ALL_DETECTORS)
    prefilter._hs = None
    texts = _corpus_texts()
    texts += [t + " é" for t in texts]  # the same, not ASCII
    for text in texts:
        chosen = set(map(id, prefilter.candidates(TextView(text))))
        for det in NEW:
            if det.key is None and id(det) not in chosen:
                assert next(det.find(TextView(text)), None) is None, (det.type, text[:60])


@pytest.mark.skipif(not hsprefilter.AVAILABLE, reason="no hyperscan wheel on this platform")
def test_hyperscan_compiles_the_new_detectors_quickly() -> None:
    """What Hyperscan gets of each new detector (a loosened pattern, or its literals for a finder) compiles
    in well under a second: month names of 14 languages in one pattern took minutes."""
    for det in NEW:
        if det.key is not None:
            continue
        for e in hsprefilter.expressions(det):
            started = time.monotonic()
            assert hsprefilter._compiles(e, hsprefilter.hyperscan.HS_FLAG_PREFILTER), det.type
            assert time.monotonic() - started < 1.0, (det.type, e.text[:80])


def test_gates_change_no_result_on_the_corpus() -> None:
    """A gate (a necessary condition on the text's shape) only saves work: without it, the same findings."""
    for text in _corpus_texts():
        for det in NEW:
            if det.key is None and det.gate is not None:
                plain = dataclasses.replace(det, gate=None)
                assert list(det.find(TextView(text))) == list(plain.find(TextView(text)))
