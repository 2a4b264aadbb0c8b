"""Form builders that post plain forms: the generic form endpoint, Tilda, Google Forms, Jotform and Webflow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.intake.channels.base import (
    Incoming,
    Inquiry,
    NotInquiry,
    Parsed,
    Source,
    Stored,
    TokenVerified,
    hmac_sha256,
    require_signature,
)
from services.intake.errors import SenderNotVerified, UnparseableRequest
from services.intake.normalize import normalize_key
from services.intake.parsing import extract_utm, load_json, parse_body, parse_json_object, text_of


def _form_inquiry(fields: dict[str, str], delivery_id: str | None = None, subject: str | None = None) -> Inquiry:
    return Inquiry(fields=fields, utm=extract_utm(fields), delivery_id=delivery_id, subject=subject)


class GenericFormAdapter:
    """``POST /forms/{key}``: urlencoded, multipart with files or JSON, in the charset the request names."""

    kind = "form"
    source: Source = "form"

    def __init__(self, fallback_charset: str | None = "windows-1251") -> None:
        self.fallback_charset = fallback_charset

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        """Public forms are not signed; spam protection stands in."""

    def parse(self, stored: Stored) -> Parsed:
        body = parse_body(stored.content_type, stored.body, self.fallback_charset)
        inquiry = _form_inquiry(body.fields)
        inquiry.attachments = body.files
        return inquiry


class TildaAdapter(TokenVerified):
    """Tilda's webhook: urlencoded fields, ``tranid`` per submission, and ``test=test`` when connected."""

    kind = "tilda"
    source: Source = "form"

    def parse(self, stored: Stored) -> Parsed:
        fields = parse_body(stored.content_type or "application/x-www-form-urlencoded", stored.body).fields
        if fields == {"test": "test"}:
            return NotInquiry("ping", "Tilda's connection test (test=test)")
        service = {"tranid", "formid", "cookies", "formname"}
        values = {key: value for key, value in fields.items() if normalize_key(key) not in service}
        tranid = fields.get("tranid") or None
        inquiry = _form_inquiry(values, delivery_id=tranid, subject=fields.get("formname"))
        if fields.get("formid"):
            inquiry.fields["tilda.formid"] = fields["formid"]
        return inquiry


class GoogleFormsAdapter(TokenVerified):
    """JSON posted by a Google Forms Apps Script trigger: answers with titles; arrays for checkboxes and grids."""

    kind = "google_forms"
    source: Source = "form"

    def parse(self, stored: Stored) -> Parsed:
        data = parse_json_object(stored.body)
        answers = data.get("answers")
        if not isinstance(answers, list):
            raise UnparseableRequest("Google Forms body has no answers list")
        fields: dict[str, str] = {}
        for answer in answers:
            if isinstance(answer, dict) and answer.get("title"):
                value = _grid_text(answer.get("response"))
                if value:
                    fields[str(answer["title"])] = value
        respondent = data.get("respondentEmail")
        response_id = data.get("responseId")
        if not response_id:
            raise UnparseableRequest("Google Forms body has no responseId")
        inquiry = _form_inquiry(fields, delivery_id=str(response_id), subject=str(data.get("formTitle") or "") or None)
        if isinstance(respondent, str) and respondent:
            inquiry.email = respondent
        return inquiry


def _grid_text(value: Any) -> str:
    # A grid answer is one list per row; empty rows (null) are left out.
    if isinstance(value, list) and any(isinstance(row, list) for row in value):
        rows = [
            text_of([cell for cell in row if cell is not None]) if isinstance(row, list) else text_of(row)
            for row in value
        ]
        return "; ".join(row for row in rows if row)
    return text_of(value)


class JotformAdapter(TokenVerified):
    """Jotform's webhook: multipart with ``submissionID``, ``formTitle`` and the answers as JSON in ``rawRequest``."""

    kind = "jotform"
    source: Source = "form"

    def parse(self, stored: Stored) -> Parsed:
        outer = parse_body(stored.content_type, stored.body).fields
        submission_id = outer.get("submissionID")
        raw = outer.get("rawRequest")
        if not submission_id or not raw:
            raise UnparseableRequest("Jotform body lacks submissionID or rawRequest")
        answers = load_json(raw, "Jotform rawRequest")
        if not isinstance(answers, dict):
            raise UnparseableRequest("Jotform rawRequest is not an object")
        fields: dict[str, str] = {}
        for key, value in answers.items():
            # Answers are q<number>_<name>; everything else is Jotform's own bookkeeping.
            answer = _JOTFORM_ANSWER.match(key)
            text = _jotform_text(value) if answer else ""
            if answer and text:
                fields[answer.group(1)] = text
        return _form_inquiry(fields, delivery_id=submission_id, subject=outer.get("formTitle") or None)


_JOTFORM_ANSWER = re.compile(r"^q\d+_(.+)$")


def _jotform_text(value: Any) -> str:
    if isinstance(value, dict):
        if "full" in value:  # phone: {"full": "(555) 555-0100"} or {"area": ..., "phone": ...}
            return text_of(value["full"])
        if {"first", "last"} & value.keys():
            return " ".join(str(value[part]) for part in ("prefix", "first", "middle", "last") if value.get(part))
        return ", ".join(f"{key}: {text_of(item)}" for key, item in value.items() if text_of(item))
    return text_of(value)


class WebflowAdapter:
    """Webflow's ``form_submission`` webhook, signed as hex HMAC-SHA256 of ``<x-webflow-timestamp>:<body>``."""

    kind = "webflow"
    source: Source = "form"

    def verify(self, incoming: Incoming, secret: str, settings: Mapping[str, object]) -> None:
        timestamp = incoming.headers.get("x-webflow-timestamp", "")
        if not timestamp.isdigit():
            raise SenderNotVerified("missing or malformed x-webflow-timestamp header")
        tolerance = float(str(settings.get("timestamp_tolerance_seconds", 300)))
        if abs(incoming.now - int(timestamp) / 1000) > tolerance:
            raise SenderNotVerified("x-webflow-timestamp is too far from now: an old delivery replayed")
        require_signature(
            incoming.headers.get("x-webflow-signature"),
            hmac_sha256(secret, timestamp.encode("ascii") + b":" + incoming.body),
            header="x-webflow-signature",
            encoding="hex",
        )

    def parse(self, stored: Stored) -> Parsed:
        data = parse_json_object(stored.body)
        trigger = data.get("triggerType")
        payload = data.get("payload")
        if trigger != "form_submission" or not isinstance(payload, dict):
            return NotInquiry("not_an_inquiry", f"Webflow event {trigger!r} is not a form submission")
        values = payload.get("data")
        if not isinstance(values, dict):
            raise UnparseableRequest("Webflow form_submission has no data object")
        submission_id = payload.get("id")
        if not submission_id:
            raise UnparseableRequest("Webflow form_submission has no id")
        fields = {str(key): text_of(value) for key, value in values.items() if text_of(value)}
        return _form_inquiry(fields, delivery_id=str(submission_id), subject=str(payload.get("name") or "") or None)
