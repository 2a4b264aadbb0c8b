"""Normalized forms of phones, e-mails and tax ids, applied the same way to documents and to queries."""

from __future__ import annotations

import re

_PHONE_CHARACTERS = re.compile(r"^\+?[\d\s().\-]+$")
_TAX_ID_SEPARATORS = re.compile(r"[\s\-./]")
_TAX_ID = re.compile(r"^[A-Z]{0,2}\d{8,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

E164_MIN_DIGITS = 8
E164_MAX_DIGITS = 15
RUSSIAN_NATIONAL_DIGITS = 10


def normalize_phone(text: str) -> str | None:
    """Return ``text`` as an E.164 phone (``+79990000001``), or None when it is not a phone number.

    A Russian number written nationally (``8 999 000-00-01``, or ten digits starting with 9) becomes
    ``+7...``, because staff in Russia commonly type numbers that way.
    """
    candidate = text.strip()
    if not _PHONE_CHARACTERS.match(candidate):
        return None
    digits = re.sub(r"\D", "", candidate)
    if candidate.startswith("+"):
        pass
    elif len(digits) == RUSSIAN_NATIONAL_DIGITS + 1 and digits[0] == "8":
        digits = "7" + digits[1:]
    elif len(digits) == RUSSIAN_NATIONAL_DIGITS and digits[0] == "9":
        digits = "7" + digits
    if not E164_MIN_DIGITS <= len(digits) <= E164_MAX_DIGITS:
        return None
    return "+" + digits


def normalize_email(text: str) -> str | None:
    """Return ``text`` as a lower-case e-mail address, or None when it is not one."""
    candidate = text.strip().strip("<>").lower()
    return candidate if _EMAIL.match(candidate) else None


def normalize_tax_id(text: str) -> str | None:
    """Return ``text`` as a tax id without separators, letters upper-cased (``DE 123 456 789`` to ``DE123456789``).

    Digits alone cover a Russian INN (10 or 12 digits); a two-letter country prefix covers EU VAT numbers.
    """
    candidate = _TAX_ID_SEPARATORS.sub("", text.strip()).upper()
    return candidate if _TAX_ID.match(candidate) else None


def query_identifiers(text: str) -> dict[str, set[str]]:
    """Return the phones, e-mails and tax ids found in a query, as a whole and word by word."""
    found: dict[str, set[str]] = {"phones": set(), "emails": set(), "tax_ids": set()}
    for part in (text, *text.split()):
        if phone := normalize_phone(part):
            found["phones"].add(phone)
        if email := normalize_email(part):
            found["emails"].add(email)
        if tax_id := normalize_tax_id(part):
            found["tax_ids"].add(tax_id)
    return found
