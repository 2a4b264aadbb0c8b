"""Tasks' tables: the tasks, their observers and history, and the projections of CRM deals, companies and contacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata

# SQLite only auto-increments INTEGER PRIMARY KEY, so the history ids become INTEGER there.
_HistoryId = BigInteger().with_variant(Integer(), "sqlite")


class DealReference(Base):
    """Projection of a CRM deal: its client, its name and the fields that decide who may read it."""

    __tablename__ = "deal_references"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    company_id: Mapped[uuid.UUID | None]
    primary_contact_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    contact_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    project_id: Mapped[uuid.UUID | None]
    client_legal_entity_id: Mapped[uuid.UUID | None]
    our_legal_entity_id: Mapped[uuid.UUID | None]
    workgroup: Mapped[str | None] = mapped_column(String(255))
    stage_name: Mapped[str | None] = mapped_column(String(255))
    stage_semantics: Mapped[str | None] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(default=False)


class CompanyReference(Base):
    """Projection of a CRM company: its name and the fields that decide who may read it."""

    __tablename__ = "company_references"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)


class ContactReference(Base):
    """Projection of a CRM contact: its company, its name and the fields that decide who may read it."""

    __tablename__ = "contact_references"

    contact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)


class Task(Base):
    """A task with its client reference; ``version`` grows by one with every change."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("creator_id", "request_key", name="uq_tasks_creator_request_key"),
        Index("ix_tasks_company_id", "company_id"),
        Index("ix_tasks_contact_id", "contact_id"),
        Index("ix_tasks_deal_id", "deal_id"),
        Index("ix_tasks_owner_id", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    creator_id: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[str] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    due_at: Mapped[datetime | None]
    expected_result: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    return_reason: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None]
    company_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    project_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None]
    visible_to_client: Mapped[bool] = mapped_column(default=False)
    result_required: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The creator's ``Idempotency-Key``, so a repeated create request returns the first task.
    request_key: Mapped[str | None] = mapped_column(String(255))
    #: SHA-256 of the create request's body, so the same key with another body is rejected.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))


class TaskObserver(Base):
    """A user who follows a task and may see it."""

    __tablename__ = "task_observers"

    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class TaskHistoryEntry(Base):
    """One change of a task, in the words shown on its history page."""

    __tablename__ = "task_history"

    id: Mapped[int] = mapped_column(_HistoryId, primary_key=True, autoincrement=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(40))
    changed: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
