"""Read stored bodies: urlencoded, multipart and JSON forms in any charset, and PHP-style nested keys.

Pure functions, no I/O. The adapters in ``services.intake.channels`` build on them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from contracts.intake import InquiryAttachment, InquiryContact
from services.intake.errors import UnparseableRequest
from services.intake.normalize import (
    COMPANY_KEYS,
    EMAIL_KEYS,
    FIRST_NAME_KEYS,
    LAST_NAME_KEYS,
    MESSAGE_KEYS,
    NAME_KEYS,
    PHONE_KEYS,
    clean_name,
    first_value,
    normalize_email,
    normalize_phone,
)

__all__ = [
    "FormBody",
    "UnparseableRequest",
    "extract_contact",
    "extract_message",
    "extract_utm",
    "load_json",
    "media_type_and_charset",
    "normalize_phone",
    "parse_body",
    "parse_fields",
    "parse_json_object",
    "php_nested",
]


@dataclass
class FormBody:
    """Fields of a form body as text, and the files that came with it."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[InquiryAttachment] = field(default_factory=list)


def media_type_and_charset(content_type: str) -> tuple[str, str | None]:
    """Split a Content-Type header into its media type and its charset parameter, if any."""
    message = Message()
    message["content-type"] = content_type or "application/octet-stream"
    charset = message.get_param("charset")
    return message.get_content_type(), str(charset).strip().lower() if isinstance(charset, str) else None


def parse_body(content_type: str, body: bytes, fallback_charset: str | None = None) -> FormBody:
    """Read an urlencoded, multipart or JSON body into text fields (and files)."""
    media_type, charset = media_type_and_charset(content_type)
    if media_type == "application/x-www-form-urlencoded":
        return FormBody(fields=dict(_urlencoded_pairs(body, charset, fallback_charset)))
    if media_type == "multipart/form-data":
        return _multipart(content_type, body, charset or fallback_charset)
    if media_type == "application/json" or media_type.endswith("+json"):
        data = parse_json_object(body, charset)
        return FormBody(fields={str(key): text_of(value) for key, value in data.items()})
    raise UnparseableRequest(
        f"unsupported content type {media_type!r}; send application/x-www-form-urlencoded, "
        "multipart/form-data or application/json"
    )


def parse_fields(content_type: str, body: bytes) -> dict[str, str]:
    """Read an urlencoded, multipart or JSON body into flat text fields."""
    return parse_body(content_type, body).fields


#: Deepest nesting of arrays and objects that a JSON body may have. Vendor payloads nest a few levels;
#: a limit keeps deep bodies from exhausting the recursion of the parser and of ``text_of``.
MAX_JSON_DEPTH = 32


def load_json(text: str, what: str = "body") -> Any:
    """Decode JSON text; invalid JSON, huge integers and deep nesting raise ``UnparseableRequest``."""
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise UnparseableRequest(f"{what} nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        # JSONDecodeError, and the ValueError of an integer with more digits than Python converts.
        raise UnparseableRequest(f"{what} is not valid JSON: {exc}") from exc
    if _json_depth(data) > MAX_JSON_DEPTH:
        raise UnparseableRequest(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return data


def _json_depth(value: Any) -> int:
    depth = 0
    level = [value]
    while level:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def parse_json_object(body: bytes, charset: str | None = None) -> dict[str, Any]:
    """Decode a JSON object; anything else is unparseable."""
    data = load_json(_decode(body, charset or "utf-8", None))
    if not isinstance(data, dict):
        raise UnparseableRequest("JSON body must be an object of fields")
    return data


def urlencoded_pairs(body: bytes, charset: str | None = None) -> list[tuple[str, str]]:
    """Decode an urlencoded body into its name and value pairs, in order."""
    return _urlencoded_pairs(body, charset, None)


def _urlencoded_pairs(body: bytes, charset: str | None, fallback: str | None) -> list[tuple[str, str]]:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        # Hand-written clients send raw bytes instead of percent escapes; read them in the charset.
        text = _decode(body, charset or "utf-8", fallback)
    for candidate in _charsets(charset, fallback, text):
        try:
            return parse_qsl(text, keep_blank_values=True, encoding=candidate, errors="strict")
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise UnparseableRequest(f"unknown charset {candidate!r}") from exc
    tried = " or ".join(_charsets(charset, fallback, text))
    raise UnparseableRequest(f"percent-encoded value is not valid {tried}")


def _charsets(charset: str | None, fallback: str | None, text: str) -> list[str]:
    # A browser names the charset in a _charset_ field when the form has one (HTML living standard).
    declared = re.search(r"(?:^|&)_charset_=([\w.:-]+)", text)
    found = [charset or (declared.group(1).lower() if declared else None) or "utf-8"]
    if fallback and fallback not in found:
        found.append(fallback)
    return found


def _decode(body: bytes, charset: str, fallback: str | None) -> str:
    for candidate in (charset, fallback):
        if candidate is None:
            continue
        try:
            return body.decode(candidate)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise UnparseableRequest(f"unknown charset {candidate!r}") from exc
    raise UnparseableRequest(f"body is not valid {charset}")


def _multipart(content_type: str, body: bytes, charset: str | None) -> FormBody:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise UnparseableRequest("multipart body has no parts; check the boundary in Content-Type")
    parsed = FormBody()
    for part in message.iter_parts() if isinstance(message, EmailMessage) else []:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            parsed.files.append(
                InquiryAttachment(name=filename, content_type=part.get_content_type(), size=len(data), field=name)
            )
            continue
        parsed.fields[name] = _decode(data, part.get_content_charset() or charset or "utf-8", "windows-1251")
    return parsed


def php_nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn PHP-style keys (``data[FIELDS][ID]=1``) into nested dictionaries."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node = root
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1] if path[-1] else str(len(node))] = value
    return root


def text_of(value: object) -> str:
    """Render a JSON value as field text: lists joined by commas, numbers as written."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(text for text in (text_of(item) for item in value) if text)
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def extract_contact(fields: dict[str, str], region: str = "RU") -> InquiryContact:
    """Find a contact in fields by their usual names."""
    name = first_value(fields, NAME_KEYS)
    if name is None:
        parts = [first_value(fields, FIRST_NAME_KEYS), first_value(fields, LAST_NAME_KEYS)]
        name = " ".join(part for part in parts if part) or None
    phone = first_value(fields, PHONE_KEYS)
    email = first_value(fields, EMAIL_KEYS)
    return InquiryContact(
        name=clean_name(name),
        phone=normalize_phone(phone, region) if phone else None,
        email=normalize_email(email) if email else None,
        email_as_entered=email.strip() if email else None,
        company_name=clean_name(first_value(fields, COMPANY_KEYS)),
    )


def extract_message(fields: dict[str, str]) -> str | None:
    return first_value(fields, MESSAGE_KEYS)


def extract_utm(fields: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in fields.items() if key.lower().startswith("utm_") and value}
