"""Normalization of what people type: phones to E.164, e-mail addresses, names, and field names."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

# Field names that carry each part of a contact, compared after normalize_key(); Russian included
# because the senders' forms are often Russian.
NAME_KEYS = ("name", "full_name", "fullname", "fio", "your_name", "contact_name", "имя", "фио", "ваше_имя")
FIRST_NAME_KEYS = ("first_name", "firstname", "first")
LAST_NAME_KEYS = ("last_name", "lastname", "last", "surname", "фамилия")
PHONE_KEYS = ("phone", "tel", "telephone", "phone_number", "phonenumber", "your_phone", "mobile", "телефон")
EMAIL_KEYS = ("email", "e_mail", "mail", "your_email", "почта", "электронная_почта")
COMPANY_KEYS = ("company", "company_name", "organization", "organisation", "компания", "организация")
MESSAGE_KEYS = ("message", "comment", "comments", "text", "question", "сообщение", "комментарий", "вопрос")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_key(key: str) -> str:
    """Lower-case a field name and fold spaces and punctuation to ``_``: ``Your-Phone`` becomes ``your_phone``."""
    folded = unicodedata.normalize("NFKC", key).casefold()
    return re.sub(r"[^\w]+", "_", folded).strip("_")


def normalize_phone(raw: str, region: str = "RU") -> str | None:
    """Return ``raw`` in E.164, reading a number without ``+`` in ``region``'s national format (a leading 8)."""
    if not re.search(r"\d", raw):
        return None
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", raw)
        return "+" + digits if 7 <= len(digits) <= 15 else None
    if not phonenumbers.is_possible_number(number) and not raw.strip().startswith("+"):
        # A number such as 79990000001, international but without its +, fails as a national number.
        try:
            number = phonenumbers.parse("+" + re.sub(r"\D", "", raw), None)
        except phonenumbers.NumberParseException:
            return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone(text: str, region: str = "RU") -> str | None:
    """Return the first phone number written in free text, in E.164."""
    for match in phonenumbers.PhoneNumberMatcher(text, region.upper(), leniency=phonenumbers.Leniency.POSSIBLE):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalize_email(raw: str) -> str | None:
    """Return the address for comparison (trimmed, lower case), or None when it is not an address."""
    address = raw.strip()
    if not _EMAIL.match(address):
        return None
    return address.casefold()


def clean_name(raw: str | None) -> str | None:
    """Trim a name and collapse the spaces inside it."""
    if raw is None:
        return None
    name = " ".join(raw.split())
    return name or None


def first_value(fields: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """Return the first non-empty value among ``fields`` whose normalized name is one of ``keys``."""
    by_key: dict[str, str] = {}
    for key, value in fields.items():
        by_key.setdefault(normalize_key(key), value)
    for key in keys:
        value = by_key.get(key, "").strip()
        if value:
            return value
    return None
