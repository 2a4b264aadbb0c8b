"""Turn a stored request body into form fields and an inquiry; pure functions, no I/O."""

from __future__ import annotations

import json
import re
from email.message import Message
from urllib.parse import parse_qsl

from contracts.intake import InquiryContact


class UnparseableRequest(ValueError):
    """The body cannot be read as the content type it declares."""


NAME_KEYS = ("name", "full_name", "fullname", "fio", "your-name", "contact_name")
PHONE_KEYS = ("phone", "tel", "telephone", "phone_number", "your-phone")
EMAIL_KEYS = ("email", "e-mail", "mail", "your-email")
COMPANY_KEYS = ("company", "company_name", "organization")
MESSAGE_KEYS = ("message", "comment", "comments", "text", "question")


def _content_type_parts(content_type: str) -> tuple[str, str]:
    message = Message()
    message["content-type"] = content_type or "application/octet-stream"
    charset = message.get_param("charset")
    return message.get_content_type(), str(charset) if isinstance(charset, str) else "utf-8"


def parse_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Read a urlencoded or JSON body into flat string fields."""
    media_type, charset = _content_type_parts(content_type)
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise UnparseableRequest(f"body is not valid {charset}: {exc}") from exc

    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict")
        except UnicodeDecodeError as exc:
            raise UnparseableRequest(f"percent-encoded value is not valid {charset}: {exc}") from exc
        return dict(pairs)
    if media_type == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnparseableRequest(f"body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise UnparseableRequest("JSON body must be an object of fields")
        return {str(key): _scalar_text(value) for key, value in data.items()}
    raise UnparseableRequest(f"unsupported content type {media_type!r}")


def _scalar_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _first(fields: dict[str, str], keys: tuple[str, ...]) -> str | None:
    lowered = {key.lower(): value for key, value in fields.items()}
    for key in keys:
        value = lowered.get(key, "").strip()
        if value:
            return value
    return None


def normalize_phone(raw: str, default_country_code: str = "7") -> str | None:
    """Return ``raw`` in E.164, reading a leading national 8 as the default country's trunk prefix."""
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    if raw.strip().startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("8") and default_country_code == "7":
        return "+7" + digits[1:]
    if len(digits) == 10:
        return "+" + default_country_code + digits
    return "+" + digits


def extract_contact(fields: dict[str, str]) -> InquiryContact:
    phone = _first(fields, PHONE_KEYS)
    email = _first(fields, EMAIL_KEYS)
    return InquiryContact(
        name=_first(fields, NAME_KEYS),
        phone=normalize_phone(phone) if phone else None,
        email=email.lower() if email else None,
        company_name=_first(fields, COMPANY_KEYS),
    )


def extract_message(fields: dict[str, str]) -> str | None:
    return _first(fields, MESSAGE_KEYS)


def extract_utm(fields: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in fields.items() if key.lower().startswith("utm_") and value}
