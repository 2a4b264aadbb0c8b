"""Normalized phones, e-mails and tax ids, the same for documents and for queries."""

from __future__ import annotations

import pytest

from services.search.normalize import normalize_email, normalize_phone, normalize_tax_id, query_identifiers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("8 (999) 000-00-01", "+79990000001"),
        ("+7 999 000 00 01", "+79990000001"),
        ("9990000001", "+79990000001"),
        ("+49 30 1234567", "+49301234567"),
        ("+79990000001", "+79990000001"),
        ("12-34", None),
        ("call me", None),
        ("+1234567890123456", None),
    ],
)
def test_phone_normalized_to_e164(typed: str, expected: str | None) -> None:
    assert normalize_phone(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Anna.Smirnova@Example.COM", "anna.smirnova@example.com"),
        ("<anna@example.com>", "anna@example.com"),
        ("anna@example", None),
        ("anna", None),
    ],
)
def test_email_lower_cased(typed: str, expected: str | None) -> None:
    assert normalize_email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7707 083 893", "7707083893"),
        ("7707-083-893", "7707083893"),
        ("500100732259", "500100732259"),
        ("de 123 456 789", "DE123456789"),
        ("1234", None),
        ("договор", None),
    ],
)
def test_tax_id_without_separators(typed: str, expected: str | None) -> None:
    assert normalize_tax_id(typed) == expected


def test_query_identifiers_per_word() -> None:
    found = query_identifiers("Anna@Example.com 89990000001")
    assert found["emails"] == {"anna@example.com"}
    assert found["phones"] == {"+79990000001"}


def test_query_identifiers_none_in_words() -> None:
    assert query_identifiers("договор поставки") == {"phones": set(), "emails": set(), "tax_ids": set()}
