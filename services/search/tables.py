"""Search keeps its documents in OpenSearch; its database contains the runtime tables and parent access."""

from __future__ import annotations

import uuid

from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class RecordAccess(Base):
    """Newest known readers of a deal or company, copied into the documents of the records linked to it."""

    __tablename__ = "record_access"

    #: Deal or company id; ids are UUIDs, so the two kinds never collide.
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int]
    #: Intake request a deal was made from; its conversation gets the deal's readers.
    request_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
