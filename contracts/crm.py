"""Events of the CRM service."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event


class DealSource(BaseModel):
    """Where a deal came from."""

    kind: Literal["manual", "request", "form", "channel", "import"] = Field(description="Kind of source.")
    request_id: uuid.UUID | None = Field(default=None, description="Intake request the deal was made from.")
    form_key: str | None = Field(default=None, description="Key of the web form, when a form.")
    channel: str | None = Field(default=None, description="Channel name, when a channel.", examples=["telegram"])
    utm: dict[str, str] = Field(default_factory=dict, description="UTM values of the inquiry.")


class DealState(BaseModel):
    """Full state of a deal."""

    id: uuid.UUID
    title: str = Field(examples=["Website redesign"])
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str = Field(examples=["New"])
    amount: Decimal | None = Field(default=None, description="Deal amount in ``currency``.")
    currency: str | None = Field(default=None, min_length=3, max_length=3, examples=["EUR"])
    owner_id: str | None = Field(default=None, description="User id of the deal's owner.")
    department: str | None = Field(default=None, description="Department that owns the deal, for access.")
    company_id: uuid.UUID | None = None
    contact_ids: list[uuid.UUID] = Field(default_factory=list)
    primary_contact_id: uuid.UUID | None = None
    contact_name: str | None = Field(default=None, description="Name of the primary contact, for display.")
    contact_phone: str | None = Field(default=None, description="Primary contact phone in E.164.")
    contact_email: str | None = None
    source: DealSource


class DealChange(BaseModel):
    """A deal's state and the names of the fields that changed."""

    deal: DealState
    changed: list[str] = Field(default_factory=list, description="Names of the fields that changed.")


class DealCreated(Event[DealChange]):
    """A deal was created."""

    event_type: Literal["crm.deal.created"] = "crm.deal.created"
    aggregate_type: Literal["deal"] = "deal"


class DealUpdated(Event[DealChange]):
    """A deal's fields changed."""

    event_type: Literal["crm.deal.updated"] = "crm.deal.updated"
    aggregate_type: Literal["deal"] = "deal"


DealEvent = Annotated[DealCreated | DealUpdated, Field(discriminator="event_type")]
