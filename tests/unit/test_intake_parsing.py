import json

import pytest

from services.intake.parsing import (
    MAX_JSON_DEPTH,
    UnparseableRequest,
    extract_contact,
    load_json,
    normalize_phone,
    parse_fields,
)

pytestmark = pytest.mark.unit


def test_windows_1251_form_is_decoded() -> None:
    body = "name=%C0%ED%ED%E0&phone=89990000001".encode("ascii")
    fields = parse_fields("application/x-www-form-urlencoded; charset=windows-1251", body)
    assert fields["name"] == "Анна"


def test_plus_and_ampersand_survive_urlencoding() -> None:
    fields = parse_fields("application/x-www-form-urlencoded", b"phone=%2B7+999+000-00-02&company=A%26B")
    assert fields["phone"] == "+7 999 000-00-02"
    assert fields["company"] == "A&B"


def test_json_number_phone_becomes_text() -> None:
    fields = parse_fields("application/json", json.dumps({"phone": 79990000003, "name": "Ivan"}).encode())
    assert extract_contact(fields).phone == "+79990000003"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("8 (999) 000-00-01", "+79990000001"),
        ("+7 999 000 00 01", "+79990000001"),
        ("9990000001", "+79990000001"),
        ("+1 555 0100", "+15550100"),
        ("no digits", None),
    ],
)
def test_phone_normalization(raw: str, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_email_is_lowercased() -> None:
    assert extract_contact({"Email": " Anna@Example.COM "}).email == "anna@example.com"


def test_invalid_json_names_the_reason() -> None:
    with pytest.raises(UnparseableRequest, match="not valid JSON"):
        parse_fields("application/json", b"{oops")


def test_wrong_charset_is_reported() -> None:
    with pytest.raises(UnparseableRequest, match="utf-8"):
        parse_fields("application/x-www-form-urlencoded", "name=Анна".encode("cp1251"))


def test_unsupported_media_type_is_reported() -> None:
    with pytest.raises(UnparseableRequest, match="text/plain"):
        parse_fields("text/plain", b"hello")


def test_load_json_depth_limit() -> None:
    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(nested) == json.loads(nested)
    with pytest.raises(UnparseableRequest, match="nests deeper than"):
        load_json("[" + nested + "]")
