"""CRM's tables: clients, legal entities, projects, pipelines, deals, and projections of tasks and documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, MetaData, Numeric, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {**TYPE_ANNOTATION_MAP, list[Any]: JSON, list[str]: JSON}


metadata = Base.metadata

# Ids of the pipeline that the first migration creates, so every installation starts with one.
SALES_PIPELINE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f0001")


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(String(500))
    tax_id: Mapped[str | None] = mapped_column(String(50), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    email_domains: Mapped[list[str]] = mapped_column(default=list)
    phones: Mapped[list[str]] = mapped_column(default=list)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    phones: Mapped[list[str]] = mapped_column(default=list)
    emails: Mapped[list[str]] = mapped_column(default=list)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactIdentity(Base):
    """A normalized phone (``phone:+4930...``) or e-mail (``email:a@b.example``) of a contact, to find duplicates."""

    __tablename__ = "contact_identities"

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    value: Mapped[str] = mapped_column(String(400), primary_key=True, index=True)


class LegalEntity(Base):
    """A client's legal entity (``company_id`` set) or one of our own (``is_own``)."""

    __tablename__ = "legal_entities"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    is_own: Mapped[bool] = mapped_column(default=False)
    legal_name: Mapped[str] = mapped_column(String(500))
    legal_form: Mapped[str | None] = mapped_column(String(100))
    tax_id: Mapped[str | None] = mapped_column(String(50), index=True)
    registration_numbers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    addresses: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bank_accounts: Mapped[list[Any]] = mapped_column(default=list)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))


class Stage(Base):
    __tablename__ = "stages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"))
    name: Mapped[str] = mapped_column(String(255))
    position: Mapped[int]
    semantics: Mapped[str] = mapped_column(String(20), doc="in_progress, won or lost")
    required_fields: Mapped[list[str]] = mapped_column(default=list, doc="Fields a deal must have to enter.")
    exit_conditions: Mapped[list[Any]] = mapped_column(default=list, doc="Conditions that must hold to leave.")
    max_days: Mapped[int | None] = mapped_column(default=None, doc="Days in the stage before stale_in_stage.")


class PipelineField(Base):
    """A typed custom field of a pipeline's deals."""

    __tablename__ = "pipeline_fields"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20), doc="text, number, money, date, choice, yes_no or user")
    options: Mapped[list[str]] = mapped_column(default=list, doc="Allowed values of a choice field.")
    position: Mapped[int] = mapped_column(default=0)


class Deal(Base):
    __tablename__ = "deals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    title: Mapped[str] = mapped_column(String(500))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stages.id"))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255), default=None)
    contact_name: Mapped[str | None] = mapped_column(String(500))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[dict[str, Any]]
    request_id: Mapped[uuid.UUID | None] = mapped_column(unique=True, doc="Intake request the deal came from.")
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True, default=None)
    primary_contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    client_legal_entity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("legal_entities.id"), default=None)
    our_legal_entity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("legal_entities.id"), default=None)
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id"), index=True, default=None)
    next_step: Mapped[str | None] = mapped_column(String(1000), default=None)
    next_step_due_at: Mapped[datetime | None] = mapped_column(default=None)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    touched_at: Mapped[datetime] = mapped_column(default=utcnow, doc="Last update by a person, for markers.")
    attention_task_id: Mapped[uuid.UUID | None] = mapped_column(default=None, doc="Task behind task_result.")
    attention_since: Mapped[datetime | None] = mapped_column(default=None)
    markers: Mapped[list[Any]] = mapped_column(default=list, doc="Markers as last published.")
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DealContact(Base):
    """A contact of a deal; ``position`` keeps the order in which they were given."""

    __tablename__ = "deal_contacts"

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)


class DealComment(Base):
    """An internal comment on a deal; never shown to the client."""

    __tablename__ = "deal_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), index=True)
    author_id: Mapped[str] = mapped_column(String(255))
    author_name: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEntry(Base):
    """One entry of a deal's timeline: a stage change, a field change, a comment or a task result."""

    __tablename__ = "deal_timeline"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    cause: Mapped[dict[str, Any]] = mapped_column(doc="type (user, request, task, system), id and name.")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    link: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class MarkerSnooze(Base):
    """A marker of a deal hidden by a person until a date."""

    __tablename__ = "marker_snoozes"

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskView(Base):
    """Projection of a task from ``tasks.tasks``, with only what CRM shows and counts."""

    __tablename__ = "task_views"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[str] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    due_at: Mapped[datetime | None]
    result_text: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(default=False)


class DocumentView(Base):
    """Projection of a document from ``documents.documents``."""

    __tablename__ = "document_views"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(1000))
    number: Mapped[str | None] = mapped_column(String(100))
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)


class FileView(Base):
    """Projection of a plain client file from ``documents.files``."""

    __tablename__ = "file_views"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int]
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)


class BoardPosition(Base):
    """The newest position of a pipeline's board change log.

    Writers raise it with ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` in the transaction of the
    change. The row lock makes concurrent writers of one pipeline take positions in the order they commit.
    """

    __tablename__ = "board_positions"

    pipeline_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)


class BoardChange(Base):
    """A deal that changed on a pipeline's board, with its owner fields from before the change.

    ``was_present`` and ``is_present`` record whether the deal was on this board (in the pipeline and not
    deleted) before and after. The owner fields let a stream decide, without loading the deal's history,
    whether a subscriber had the deal on their board before the change.
    """

    __tablename__ = "board_changes"

    pipeline_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deal_id: Mapped[uuid.UUID]
    was_present: Mapped[bool]
    was_owner_id: Mapped[str | None] = mapped_column(String(255))
    was_department: Mapped[str | None] = mapped_column(String(255))
    was_workgroup: Mapped[str | None] = mapped_column(String(255))
    is_present: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AccessRequest(Base):
    """A user's request to read one restricted record, and the owner's decision on it.

    A granted request is the grant itself: it lets the requester read the record until ``expires_at``.
    """

    __tablename__ = "access_requests"
    # At most one pending request per user and record; see migration 0004.
    __table_args__ = (
        Index(
            "uq_access_requests_pending",
            "requester_id",
            "record_type",
            "record_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    record_type: Mapped[str] = mapped_column(String(20), doc="company, contact, legal_entity, project or deal")
    record_id: Mapped[uuid.UUID] = mapped_column(index=True)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deals.id"), default=None, doc="Deal whose timeline records the request and the decision."
    )
    requester_id: Mapped[str] = mapped_column(String(255), index=True)
    requester_name: Mapped[str | None] = mapped_column(String(255))
    requester_department: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[str | None] = mapped_column(String(255), index=True, doc="Owner asked, when requested.")
    owner_department: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending", doc="pending, granted or declined")
    decided_by_id: Mapped[str | None] = mapped_column(String(255), default=None)
    decided_by_name: Mapped[str | None] = mapped_column(String(255), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)
    days: Mapped[int | None] = mapped_column(default=None, doc="Days of read access granted.")
    expires_at: Mapped[datetime | None] = mapped_column(default=None, doc="End of a granted read access.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
