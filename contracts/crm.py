"""Events of the CRM service."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event


class DealSource(BaseModel):
    """Where a deal came from."""

    kind: Literal["manual", "request", "form", "channel", "import"] = Field(description="Kind of source.")
    request_id: uuid.UUID | None = Field(default=None, description="Intake request the deal was made from.")
    form_key: str | None = Field(default=None, description="Key of the web form, when a form.")
    channel: str | None = Field(default=None, description="Channel name, when a channel.", examples=["telegram"])
    utm: dict[str, str] = Field(default_factory=dict, description="UTM values of the inquiry.")


class CompanyState(BaseModel):
    """Full state of a client company."""

    id: uuid.UUID
    name: str = Field(examples=["ООО «Ромашка»"])
    owner_id: str | None = Field(default=None, description="User id of the account owner.")
    department: str | None = Field(default=None, description="Department that owns the client, for access.")
    workgroup: str | None = Field(
        default=None,
        description="Workgroup that narrows access: besides the owner, only department members in it read the client.",
    )
    email_domains: list[str] = Field(
        default_factory=list,
        description="Known e-mail domains of the company, lower case.",
        examples=[["romashka.example"]],
    )
    phones: list[str] = Field(default_factory=list, description="Phones in E.164.")
    deleted: bool = Field(default=False, description="True once the company was deleted.")
    tax_id: str | None = Field(default=None, description="Tax id of the company, used to find duplicates.")


class CompanyCreated(Event[CompanyState]):
    """A client company was created."""

    event_type: Literal["crm.company.created"] = "crm.company.created"
    aggregate_type: Literal["company"] = "company"


class CompanyUpdated(Event[CompanyState]):
    """A client company changed or was deleted (``data.deleted``)."""

    event_type: Literal["crm.company.updated"] = "crm.company.updated"
    aggregate_type: Literal["company"] = "company"


CompanyEvent = Annotated[CompanyCreated | CompanyUpdated, Field(discriminator="event_type")]


class ContactState(BaseModel):
    """Full state of a contact person; a contact belongs to one company or to none."""

    id: uuid.UUID
    company_id: uuid.UUID | None = None
    name: str
    phones: list[str] = Field(default_factory=list, description="Phones in E.164.")
    emails: list[str] = Field(default_factory=list, description="E-mail addresses as entered.")
    owner_id: str | None = None
    department: str | None = None
    deleted: bool = False


class ContactCreated(Event[ContactState]):
    """A contact was created."""

    event_type: Literal["crm.contact.created"] = "crm.contact.created"
    aggregate_type: Literal["contact"] = "contact"


class ContactUpdated(Event[ContactState]):
    """A contact changed or was deleted (``data.deleted``)."""

    event_type: Literal["crm.contact.updated"] = "crm.contact.updated"
    aggregate_type: Literal["contact"] = "contact"


ContactEvent = Annotated[ContactCreated | ContactUpdated, Field(discriminator="event_type")]


class LegalEntityState(BaseModel):
    """Full state of a legal entity: a client's (``company_id`` set) or one of our own (``is_own``)."""

    id: uuid.UUID
    company_id: uuid.UUID | None = Field(default=None, description="Client company; None for our own entities.")
    is_own: bool = Field(default=False, description="True for a legal entity of our own company.")
    legal_name: str = Field(examples=["Общество с ограниченной ответственностью «Ромашка»"])
    legal_form: str | None = Field(default=None, examples=["ООО", "GmbH", "LLC"])
    tax_id: str | None = Field(default=None, description="Tax id (INN, VAT number), digits and letters only.")
    registration_numbers: dict[str, str] = Field(
        default_factory=dict, description="Other registration numbers by kind.", examples=[{"ogrn": "1027700132195"}]
    )
    addresses: dict[str, str] = Field(default_factory=dict, description="Addresses by kind (legal, postal).")
    bank_accounts: list[dict[str, str]] = Field(default_factory=list)
    deleted: bool = False


class LegalEntityCreated(Event[LegalEntityState]):
    """A legal entity was created."""

    event_type: Literal["crm.legal_entity.created"] = "crm.legal_entity.created"
    aggregate_type: Literal["legal_entity"] = "legal_entity"


class LegalEntityUpdated(Event[LegalEntityState]):
    """A legal entity changed or was deleted (``data.deleted``)."""

    event_type: Literal["crm.legal_entity.updated"] = "crm.legal_entity.updated"
    aggregate_type: Literal["legal_entity"] = "legal_entity"


LegalEntityEvent = Annotated[LegalEntityCreated | LegalEntityUpdated, Field(discriminator="event_type")]


MarkerKind = Literal["task_result", "no_next_step", "next_step_overdue", "stale_in_stage"]


class DealMarker(BaseModel):
    """An attention marker on an open deal: something a person should look at."""

    kind: MarkerKind = Field(
        description=(
            "task_result: a linked task was completed or accepted after a person last updated the deal; "
            "no_next_step: neither a next step nor an open task; next_step_overdue: the next step's due "
            "date has passed; stale_in_stage: the deal stayed longer than its stage allows."
        )
    )
    since: datetime | None = Field(default=None, description="When the condition began, in UTC.")
    task_id: uuid.UUID | None = Field(default=None, description="The task whose result raised the marker.")


class ProjectState(BaseModel):
    """Full state of a client project."""

    id: uuid.UUID
    company_id: uuid.UUID | None = Field(default=None, description="Client company of the project.")
    name: str = Field(examples=["Website relaunch 2027"])
    description: str | None = None
    status: Literal["active", "closed"] = "active"
    owner_id: str | None = None
    department: str | None = None
    workgroup: str | None = None
    deleted: bool = False


class ProjectCreated(Event[ProjectState]):
    """A client project was created."""

    event_type: Literal["crm.project.created"] = "crm.project.created"
    aggregate_type: Literal["project"] = "project"


class ProjectUpdated(Event[ProjectState]):
    """A client project changed or was deleted (``data.deleted``)."""

    event_type: Literal["crm.project.updated"] = "crm.project.updated"
    aggregate_type: Literal["project"] = "project"


ProjectEvent = Annotated[ProjectCreated | ProjectUpdated, Field(discriminator="event_type")]


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
    client_legal_entity_id: uuid.UUID | None = Field(default=None, description="The client's legal entity.")
    our_legal_entity_id: uuid.UUID | None = Field(default=None, description="Our own legal entity in the deal.")
    project_id: uuid.UUID | None = Field(default=None, description="Client project the deal belongs to.")
    stage_semantics: Literal["in_progress", "won", "lost"] = "in_progress"
    workgroup: str | None = Field(
        default=None,
        description="Workgroup that narrows access: besides the owner, only department members in it read the deal.",
    )
    deleted: bool = False
    next_step: str | None = Field(default=None, description="What happens next in the deal.")
    next_step_due_at: datetime | None = Field(default=None, description="When the next step is due, in UTC.")
    stage_entered_at: datetime | None = Field(default=None, description="When the deal entered its current stage.")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Values of the pipeline's custom fields by field key."
    )
    markers: list[DealMarker] = Field(
        default_factory=list, description="Attention markers in force and not snoozed; empty on closed deals."
    )


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
