"""Typeform webhooks: a ``form_response`` signed with ``Typeform-Signature: sha256=<base64 HMAC>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.intake import InquiryAttachment
from services.intake.channels.base import (
    Incoming,
    Inquiry,
    NotInquiry,
    Parsed,
    Source,
    Stored,
    hmac_sha256,
    require_signature,
)
from services.intake.errors import UnparseableRequest
from services.intake.parsing import parse_json_object, text_of

# Field types whose answer is the contact's name, phone or e-mail when the ref does not say so.
_CONTACT_TYPES = {"email": "email", "phone_number": "phone"}


class TypeformAdapter:
    kind = "typeform"
    source: Source = "form"

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        require_signature(
            incoming.headers.get("typeform-signature"),
            hmac_sha256(secret, incoming.body),
            header="Typeform-Signature",
            encoding="base64",
        )

    def parse(self, stored: Stored) -> Parsed:
        data = parse_json_object(stored.body)
        event_type = data.get("event_type")
        response = data.get("form_response")
        if event_type == "form_response_partial":
            token = response.get("token") if isinstance(response, dict) else None
            return NotInquiry("partial", "a partial response; the full response completes it", str(token or ""))
        if event_type != "form_response" or not isinstance(response, dict):
            return NotInquiry("not_an_inquiry", f"Typeform event {event_type!r} is not a form response")

        fields: dict[str, str] = {}
        contact: dict[str, str] = {}
        attachments: list[InquiryAttachment] = []
        for answer in response.get("answers") or []:
            if not isinstance(answer, dict):
                continue
            field = answer.get("field") or {}
            key = str(field.get("ref") or field.get("id") or "")
            value = _answer_text(answer)
            if not key or not value:
                continue
            fields[key] = value
            if answer.get("type") in _CONTACT_TYPES:
                contact.setdefault(_CONTACT_TYPES[answer["type"]], value)
            if answer.get("type") == "file_url":
                attachments.append(
                    InquiryAttachment(name=value.rsplit("/", 1)[-1], content_type="", size=0, field=key, url=value)
                )
        hidden = {str(key): text_of(value) for key, value in (response.get("hidden") or {}).items()}
        fields.update({f"hidden.{key}": value for key, value in hidden.items() if not key.startswith("utm_")})
        token = response.get("token")
        if not token:
            raise UnparseableRequest("form_response has no token")
        return Inquiry(
            fields=fields,
            phone=contact.get("phone"),
            email=contact.get("email"),
            subject=_title(response),
            utm={key: value for key, value in hidden.items() if key.startswith("utm_") and value},
            delivery_id=str(token),
            attachments=attachments,
        )


def _answer_text(answer: dict[str, Any]) -> str:
    kind = answer.get("type")
    if kind == "choice":
        choice = answer.get("choice") or {}
        return str(choice.get("label") or choice.get("other") or "")
    if kind == "choices":
        choices = answer.get("choices") or {}
        labels = [str(label) for label in choices.get("labels") or []]
        if choices.get("other"):
            labels.append(str(choices["other"]))
        return ", ".join(labels)
    if kind == "payment":
        payment = answer.get("payment") or {}
        return f"{payment.get('amount', '')} ({'paid' if payment.get('success') else 'not paid'})"
    if isinstance(kind, str) and kind in answer:
        return text_of(answer[kind])
    return ""


def _title(response: dict[str, Any]) -> str | None:
    definition = response.get("definition")
    if isinstance(definition, dict) and definition.get("title"):
        return str(definition["title"])
    return None
