"""Documents' tables: the projection of CRM deals that documents are filed under."""

from __future__ import annotations

import uuid

from sqlalchemy import MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class DealReference(Base):
    """What documents needs to know of a CRM deal: its client company and owner."""

    __tablename__ = "deal_references"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    company_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[str | None] = mapped_column(String(255))
