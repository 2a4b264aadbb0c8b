"""Events of the intake service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event


class InquiryContact(BaseModel):
    """Contact details of the person behind an inquiry, normalized."""

    name: str | None = Field(default=None, examples=["Анна Смирнова"])
    phone: str | None = Field(default=None, description="Phone in E.164.", examples=["+79990000001"])
    email: str | None = Field(
        default=None,
        description="E-mail address for comparison: trimmed and in lower case.",
        examples=["anna@example.com"],
    )
    company_name: str | None = None
    email_as_entered: str | None = Field(
        default=None,
        description="The e-mail address as the sender wrote it.",
        examples=["Anna@Example.com"],
    )


class InquiryAttachment(BaseModel):
    """A file that came with an inquiry; its bytes stay in intake's stored request."""

    name: str = Field(examples=["ТЗ на внедрение.pdf"])
    content_type: str = Field(examples=["application/pdf"])
    size: int = Field(ge=0, description="Size in bytes.")
    field: str | None = Field(default=None, description="Form field the file was uploaded in, if any.")
    url: str | None = Field(default=None, description="Where the sender keeps the file, when it sent a link.")


class IntakeRequest(BaseModel):
    """An inquiry accepted by intake and the deal routing it asks for."""

    id: uuid.UUID
    received_at: datetime
    source: Literal["form", "channel", "email", "import"] = Field(description="Kind of sender.")
    form_key: str | None = Field(default=None, examples=["website-contact"])
    channel: str | None = Field(default=None, examples=["telegram"])
    title: str = Field(
        description="Short title for the deal.",
        examples=["Request from website-contact"],
    )
    message: str | None = Field(default=None, description="Free text of the inquiry.")
    contact: InquiryContact
    fields: dict[str, str] = Field(default_factory=dict, description="Submitted fields, as received.")
    utm: dict[str, str] = Field(default_factory=dict)
    pipeline_key: str | None = Field(default=None, description="Pipeline chosen by routing, by key.")
    stage_key: str | None = Field(default=None, description="Stage chosen by routing, by name; the first if unset.")
    owner_id: str | None = Field(default=None, description="Owner chosen by routing.")
    department: str | None = Field(
        default=None,
        description="Department chosen by routing, which CRM gives the deal; CRM's INQUIRY_DEPARTMENT when unset.",
    )
    routing_reason: str | None = Field(
        default=None,
        description="Why routing chose this pipeline, stage and owner: the rule or form setting.",
        examples=["rule 'b2b by hidden field'", "form default"],
    )
    delivery_id: str | None = Field(
        default=None,
        description="The sender's id of this delivery or submission (Typeform token, Telegram update_id, ...).",
    )
    custom_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Fields the form maps onto custom fields of the deal, by custom field key.",
    )
    company_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Fields the form maps onto the company (such as tax_id), by company field name.",
    )
    attachments: list[InquiryAttachment] = Field(default_factory=list, description="Files that came with it.")


class RequestAccepted(Event[IntakeRequest]):
    """An inquiry was accepted and should become a deal."""

    event_type: Literal["intake.request.accepted"] = "intake.request.accepted"
    aggregate_type: Literal["intake_request"] = "intake_request"


# A union with a discriminator once the topic carries more than one event type.
IntakeEvent = RequestAccepted
