"""Extranet's tables: the sharing policies, the source candidates, the client view and portal access.

The source candidate tables hold only the fields that some sharing policy may let out, and the ids,
company ids and flags needed to rebuild the view when a policy changes. Descriptions, contact data,
owners, internal findings, unpublished versions and the content of tasks not flagged for the client
are never stored. The ``view_*`` tables are what portal users read: each row is written through the
company's policy, so a field the policy forbids is NULL there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, MetaData, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, AutoId, utcnow


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


metadata = Base.metadata


class SharingPolicyRow(Base):
    """The sharing policy of one client company, as set by staff."""

    __tablename__ = "sharing_policies"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    policy: Mapped[dict[str, Any]]
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SourceCompany(Base):
    """A client company: its name for the portal header and the department that manages it."""

    __tablename__ = "source_companies"

    company_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    department: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[str | None] = mapped_column(String(255))
    deleted: Mapped[bool] = mapped_column(default=False)


class SourceContact(Base):
    """A contact's company, so an invitation can only go to a contact of that company."""

    __tablename__ = "source_contacts"

    contact_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    deleted: Mapped[bool] = mapped_column(default=False)


class SourceDeal(Base):
    """A deal's fields that a policy may show; its description, contacts and owner are not stored."""

    __tablename__ = "source_deals"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    pipeline_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(String(500))
    stage_name: Mapped[str] = mapped_column(String(255))
    stage_semantics: Mapped[str] = mapped_column(String(20))
    next_step: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    deleted: Mapped[bool] = mapped_column(default=False)


class SourceTask(Base):
    """A task's client and flag; its client-facing fields are stored only while it is flagged."""

    __tablename__ = "source_tasks"

    task_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    visible_to_client: Mapped[bool]
    title: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(20))
    due_at: Mapped[datetime | None]
    public_text: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(default=False)


class SourceVersion(Base):
    """A document version that was published to the client; drafts are never stored."""

    __tablename__ = "source_versions"

    version_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    document_title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]


class SourceFile(Base):
    """A plain file shared with the client; a file that is not shared is not stored."""

    __tablename__ = "source_files"

    file_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    file_name: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]


class ViewDeal(Base):
    """A deal as the client sees it; stage, next step and amount are NULL unless the policy shows them."""

    __tablename__ = "view_deals"

    deal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(500))
    stage_name: Mapped[str | None] = mapped_column(String(255))
    next_step: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))


class ViewTask(Base):
    """A task flagged for the client, as the client sees it."""

    __tablename__ = "view_tasks"

    task_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime | None]
    public_text: Mapped[str | None] = mapped_column(Text)


class ViewVersion(Base):
    """A published document version the client may download."""

    __tablename__ = "view_versions"

    version_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    document_id: Mapped[uuid.UUID]
    document_title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[int]
    file_name: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]


class ViewFile(Base):
    """A shared file the client may download."""

    __tablename__ = "view_files"

    file_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    file_name: Mapped[str] = mapped_column(String(500))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]


class Invitation(Base):
    """An invitation; only the SHA-256 of its token is stored."""

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contact_id: Mapped[uuid.UUID | None]
    email: Mapped[str] = mapped_column(String(320))
    invited_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    portal_user_id: Mapped[uuid.UUID | None]


class PortalUser(Base):
    """A person of the client who may sign in to the portal."""

    __tablename__ = "portal_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    company_id: Mapped[uuid.UUID] = mapped_column(index=True)
    contact_id: Mapped[uuid.UUID | None]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Wrong passwords in a row from all addresses together, for the account-wide lockout.
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailures(Base):
    """Wrong passwords in a row for one portal user from one client address, and that address's lockout.

    Keyed by address, so someone who knows a user's e-mail locks out only their own address.
    """

    __tablename__ = "sign_in_failures"

    portal_user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortalSession(Base):
    """A signed-in browser. The cookie contains the token, and the table only its SHA-256."""

    __tablename__ = "portal_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    portal_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("portal_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class AccessLogEntry(Base):
    """One view or download by a portal user, for the staff audit."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_company_id_id", "company_id", "id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    record_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    portal_user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    company_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(20))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
