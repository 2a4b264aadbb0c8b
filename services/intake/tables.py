"""Intake's tables: every raw request as received and what became of it, forms, and channel connections."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class RequestStatus(StrEnum):
    """Where a stored request stands; every status but ``received`` is an outcome."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    FAILED = "failed"
    REJECTED = "rejected"


class RawRequest(Base):
    """A request body and its headers exactly as received, stored before the sender gets a 2xx."""

    __tablename__ = "raw_requests"
    __table_args__ = (
        UniqueConstraint("endpoint", "idempotency_key", name="uq_raw_requests_idempotency"),
        Index("ix_raw_requests_dedupe_key", "dedupe_key"),
        Index("ix_raw_requests_endpoint_body", "endpoint", "body_sha256"),
        Index("ix_raw_requests_rate", "endpoint", "remote_addr", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    endpoint: Mapped[str] = mapped_column(String(255), doc="Form key or channel key the request arrived at.")
    kind: Mapped[str] = mapped_column(String(32), default="form", doc="Adapter that reads it: form, typeform, ...")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_type: Mapped[str] = mapped_column(String(255), default="")
    headers: Mapped[dict[str, Any]]
    query: Mapped[str] = mapped_column(Text, default="", doc="Query string, with credentials removed.")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_sha256: Mapped[str] = mapped_column(String(64), default="")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20), default=RequestStatus.RECEIVED, index=True)
    reason: Mapped[str | None] = mapped_column(String(64), doc="Short code of the outcome: ping, duplicate, ...")
    outcome: Mapped[str | None] = mapped_column(Text, doc="The outcome in words.")
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[str | None] = mapped_column(String(255), doc="The sender's id of this delivery.")
    dedupe_key: Mapped[str | None] = mapped_column(String(400), doc="Endpoint and delivery id, for retries.")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(doc="Earlier request this one repeats.")
    thread_of: Mapped[uuid.UUID | None] = mapped_column(doc="Request this one answers (an e-mail reply).")
    summary: Mapped[dict[str, Any] | None] = mapped_column(doc="Normalized contact, routing and the reason for it.")
    deal_id: Mapped[uuid.UUID | None] = mapped_column(doc="Deal that CRM made of this request.")
    deal: Mapped[dict[str, Any] | None] = mapped_column(doc="Title, pipeline and stage of that deal, from crm.deals.")


class FormRecord(Base):
    """A form's settings: fields, mapping, routing, owner choice, spam protection and reply."""

    __tablename__ = "forms"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(doc="services.intake.forms.FormConfig as JSON.")
    round_robin: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="Next position per owner group.")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelRecord(Base):
    """A channel connection (a Typeform account, a Telegram bot, a mailbox) and its secrets."""

    __tablename__ = "channels"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # NOTE: secrets are stored as given; encrypting them at rest needs a key outside the database.
    secret: Mapped[str | None] = mapped_column(Text, doc="Signing secret, secret token or application token.")
    verify_token: Mapped[str | None] = mapped_column(Text, doc="WhatsApp's verification handshake token.")
    form_key: Mapped[str | None] = mapped_column(String(100), doc="Form whose mapping and routing apply.")
    department: Mapped[str | None] = mapped_column(
        String(255), default=None, doc="Department of the channel's deals, unless a routing rule names one."
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
