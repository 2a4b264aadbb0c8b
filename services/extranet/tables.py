"""Extranet's tables: deal ids per client company, holding no deal content until a policy lets it out."""

from __future__ import annotations

import uuid

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class ClientDeal(Base):
    """A deal's id and client company; the portal view is materialized from it by the sharing policy."""

    __tablename__ = "client_deals"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None]
