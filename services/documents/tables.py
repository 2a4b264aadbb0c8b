"""Documents' tables: documents with versions, comments and send records, plain files, and the
projections of CRM companies, legal entities and deals that the check before sending relies on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class DealReference(Base):
    """Projection of a CRM deal: its client, its two legal entities and its owner, department and workgroup."""

    __tablename__ = "deal_references"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    company_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255), default=None)
    workgroup: Mapped[str | None] = mapped_column(String(255), default=None)
    client_legal_entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    our_legal_entity_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    project_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(default=False)


class CompanyReference(Base):
    """Projection of a CRM client company: its e-mail domains and its owner, department and workgroup."""

    __tablename__ = "company_references"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    email_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    deleted: Mapped[bool] = mapped_column(default=False)


class LegalEntityReference(Base):
    """A CRM legal entity: a client company's, or one of our own."""

    __tablename__ = "legal_entity_references"

    legal_entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None]
    is_own: Mapped[bool]
    legal_name: Mapped[str] = mapped_column(String(1000))
    deleted: Mapped[bool] = mapped_column(default=False)


class Document(Base):
    """A document of a kind, filed under a client, its legal entities, a deal and a project."""

    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: Aggregate version: grows by one with every change and every event.
    version: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(500))
    number: Mapped[str | None] = mapped_column(String(100))
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    client_legal_entity_id: Mapped[uuid.UUID | None]
    our_legal_entity_id: Mapped[uuid.UUID | None]
    deal_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[str] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    workgroup: Mapped[str | None] = mapped_column(String(255))
    final_version_id: Mapped[uuid.UUID | None]
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[DocumentVersion]] = relationship(
        order_by="DocumentVersion.number", lazy="selectin", cascade="all, delete-orphan"
    )
    comments: Mapped[list[DocumentComment]] = relationship(
        order_by="DocumentComment.created_at", lazy="selectin", cascade="all, delete-orphan"
    )
    sends: Mapped[list[DocumentSend]] = relationship(
        order_by="DocumentSend.sent_at", lazy="selectin", cascade="all, delete-orphan"
    )


class DocumentVersion(Base):
    """One uploaded file of a document; its content lives in the file store under ``sha256``."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int]
    author_id: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    #: ``FindingState`` dicts: the comments, tracked changes and annotations inside the file.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class DocumentComment(Base):
    """A staff comment on a document, internal or external."""

    __tablename__ = "document_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[uuid.UUID | None]
    author_id: Mapped[str] = mapped_column(String(255))
    visibility: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DocumentSend(Base):
    """A version sent to a client by e-mail or published to the portal, with what the check found."""

    __tablename__ = "document_sends"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(20))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    recipient_company_id: Mapped[uuid.UUID | None]
    sent_by: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: ``CheckProblemState`` dicts: warnings, and the errors that an override let through.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    override_reason: Mapped[str | None] = mapped_column(Text)


class StoredFile(Base):
    """A plain file in a client's space."""

    __tablename__ = "files"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    deal_id: Mapped[uuid.UUID | None]
    project_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[str] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(255))
    shared_with_client: Mapped[bool] = mapped_column(default=False)
    deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
