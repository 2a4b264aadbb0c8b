"""Form settings and what they do to a submission: check its fields and map them onto contact, company and deal."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl

from services.intake.normalize import normalize_email, normalize_key, normalize_phone

FieldType = Literal["text", "email", "phone", "number", "date", "url", "select", "checkbox", "file", "hidden"]

#: Where a field's value goes: a contact part, the company, the deal, or a custom field (``custom.KEY``).
MAPPING_PATTERN = (
    r"^(contact\.(name|phone|email)|company\.(name|tax_id|website)|deal\.(title|message|amount)|custom\.[\w.-]{1,64})$"
)


class FormField(BaseModel):
    """One field of a form."""

    name: str = Field(min_length=1, max_length=200, description="Field name as the form posts it.")
    type: FieldType = "text"
    required: bool = False
    maps_to: str | None = Field(default=None, pattern=MAPPING_PATTERN, examples=["contact.phone", "custom.budget"])
    label: str | None = None


class Condition(BaseModel):
    """A test on one property of a submission."""

    on: Literal["field", "utm", "source", "channel", "form"] = Field(
        description="field: a submitted field; utm: a UTM value; source: form, channel, email or import; "
        "channel: the channel kind (telegram, typeform, ...); form: the form key."
    )
    key: str | None = Field(default=None, description="Field name or UTM name (utm_source or source).")
    op: Literal["equals", "contains", "in", "exists", "matches"] = "equals"
    value: str | list[str] | None = None


class OwnerChoice(BaseModel):
    """How the deal's owner is chosen: nobody, one user, or the next of a group in turn."""

    mode: Literal["none", "fixed", "round_robin"] = "none"
    user_id: str | None = None
    group: list[str] = Field(default_factory=list, description="User ids taking turns in round robin.")


class RoutingRule(BaseModel):
    """When every condition holds, these choices win over the form's defaults; the first matching rule applies."""

    name: str = Field(min_length=1, max_length=200)
    when: list[Condition] = Field(default_factory=list)
    pipeline_key: str | None = None
    stage_key: str | None = None
    owner: OwnerChoice | None = None
    department: str | None = Field(default=None, max_length=255, description="Department of the deal.")


class FormReply(BaseModel):
    """What the sender sees: JSON, or a redirect for a browser form."""

    mode: Literal["json", "redirect"] = "json"
    success_url: HttpUrl | None = None
    error_url: HttpUrl | None = Field(default=None, description="Where a browser goes back to with the errors.")


class FormConfig(BaseModel):
    """Settings of one form."""

    title: str = Field(default="", max_length=500)
    fields: list[FormField] = Field(
        default_factory=list, description="Declared fields; an empty list accepts any fields and guesses the contact."
    )
    pipeline_key: str | None = Field(default=None, description="Target pipeline; CRM's default when unset.")
    stage_key: str | None = Field(default=None, description="Target stage; the pipeline's first when unset.")
    owner: OwnerChoice = Field(default_factory=OwnerChoice)
    department: str | None = Field(
        default=None,
        max_length=255,
        description="Department of the deal, whose members may read it; CRM's INQUIRY_DEPARTMENT when unset.",
    )
    rules: list[RoutingRule] = Field(default_factory=list)
    honeypot_field: str | None = Field(
        default=None, description="A field hidden from people; a submission that fills it is spam."
    )
    rate_limit_per_minute: int | None = Field(
        default=20, ge=1, description="Submissions one address may send to this form in a minute."
    )
    max_fields: int = Field(default=100, ge=1, le=10_000)
    max_value_length: int = Field(default=10_000, ge=1)
    fallback_charset: str | None = Field(
        default="windows-1251", description="Charset to read a body in when it is not valid UTF-8 and names none."
    )
    repeat_inquiry: Literal["join", "new"] = Field(
        default="join", description="A repeat inquiry joins the client's open deal, or always makes a new one."
    )
    reply: FormReply = Field(default_factory=FormReply)


def check_fields(config: FormConfig, fields: dict[str, str], region: str) -> list[dict[str, str]]:
    """Return the errors of a submission against the form's declared fields, each naming its field."""
    errors: list[dict[str, str]] = []
    if len(fields) > config.max_fields:
        errors.append({"field": "*", "reason": f"more than {config.max_fields} fields"})
    errors.extend(
        {"field": name, "reason": f"longer than {config.max_value_length} characters"}
        for name, value in fields.items()
        if len(value) > config.max_value_length
    )
    for declared in config.fields:
        value = fields.get(declared.name, "").strip()
        if not value:
            if declared.required and declared.type != "file":
                errors.append({"field": declared.name, "reason": "is required"})
            continue
        reason = _type_error(declared.type, value, region)
        if reason:
            errors.append({"field": declared.name, "reason": reason})
    return errors


def _type_error(kind: FieldType, value: str, region: str) -> str | None:
    if kind == "email" and normalize_email(value) is None:
        return "is not an e-mail address"
    if kind == "phone" and normalize_phone(value, region) is None:
        return "is not a phone number"
    if kind == "number" and not re.fullmatch(r"-?\d+([.,]\d+)?", value.replace(" ", "")):
        return "is not a number"
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return "is not a date (YYYY-MM-DD)"
    if kind == "url" and not re.match(r"^https?://\S+$", value):
        return "is not a web address"
    return None


def mapped_values(config: FormConfig, fields: dict[str, str]) -> dict[str, str]:
    """Return the non-empty values of mapped fields by their target (``contact.phone``, ``custom.budget``)."""
    by_key = {normalize_key(name): value for name, value in fields.items()}
    mapped: dict[str, str] = {}
    for declared in config.fields:
        if declared.maps_to is None:
            continue
        value = fields.get(declared.name, by_key.get(normalize_key(declared.name), "")).strip()
        if value:
            mapped.setdefault(declared.maps_to, value)
    return mapped
