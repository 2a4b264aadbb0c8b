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
    email: str | None = Field(default=None, examples=["anna@example.com"])
    company_name: str | None = None


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


class RequestAccepted(Event[IntakeRequest]):
    """An inquiry was accepted and should become a deal."""

    event_type: Literal["intake.request.accepted"] = "intake.request.accepted"
    aggregate_type: Literal["intake_request"] = "intake_request"


# A union with a discriminator once the topic carries more than one event type.
IntakeEvent = RequestAccepted
