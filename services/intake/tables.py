"""Intake's tables: every raw request as received, and what became of it."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class RequestStatus(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    FAILED = "failed"


class RawRequest(Base):
    """A request body and its headers exactly as received, stored before the sender gets a 2xx."""

    __tablename__ = "raw_requests"
    __table_args__ = (UniqueConstraint("endpoint", "idempotency_key", name="uq_raw_requests_idempotency"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    endpoint: Mapped[str] = mapped_column(String(255), doc="Form key or channel the request arrived at.")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_type: Mapped[str] = mapped_column(String(255), default="")
    headers: Mapped[dict[str, Any]]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20), default=RequestStatus.RECEIVED, index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
