"""The client view as the portal serves it, and the difference a policy change would make."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.extranet.tables import SourceCompany, ViewDeal, ViewFile, ViewTask, ViewVersion


class PortalDeal(BaseModel):
    id: uuid.UUID
    title: str
    stage_name: str | None = None
    next_step: str | None = None
    amount: Decimal | None = None
    currency: str | None = None


class PortalTask(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    due_at: datetime | None = None
    public_result: str | None = None


class PortalDocumentVersion(BaseModel):
    id: uuid.UUID
    document_id: uuid.UUID
    document_title: str
    kind: str
    number: int
    file_name: str
    media_type: str
    size: int


class PortalFile(BaseModel):
    id: uuid.UUID
    file_name: str
    media_type: str
    size: int


class PortalView(BaseModel):
    """Everything shown to the portal users of one company; the staff preview returns the same document."""

    company_id: uuid.UUID
    company_name: str | None = None
    deals: list[PortalDeal] = Field(default_factory=list)
    tasks: list[PortalTask] = Field(default_factory=list)
    documents: list[PortalDocumentVersion] = Field(default_factory=list)
    files: list[PortalFile] = Field(default_factory=list)


class ViewDiff(BaseModel):
    """Difference between the current view and the view under a proposed policy."""

    newly_exposed: PortalView
    newly_exposed_fields: list[str] = Field(
        default_factory=list, description="'deal <id>: <field>' for fields of already shared deals that would appear."
    )
    hidden: list[str] = Field(
        default_factory=list, description="'<kind> <id>' of records the client would stop seeing."
    )
    proposed: PortalView


def build_view(company_id: uuid.UUID, company_name: str | None, rows: list[Any]) -> PortalView:
    """Turn view rows into the portal document, each list in a stable order."""
    view = PortalView(company_id=company_id, company_name=company_name)
    for row in rows:
        if isinstance(row, ViewDeal):
            view.deals.append(
                PortalDeal(
                    id=row.deal_id,
                    title=row.title,
                    stage_name=row.stage_name,
                    next_step=row.next_step,
                    amount=row.amount,
                    currency=row.currency,
                )
            )
        elif isinstance(row, ViewTask):
            view.tasks.append(
                PortalTask(
                    id=row.task_id, title=row.title, status=row.status, due_at=row.due_at, public_result=row.public_text
                )
            )
        elif isinstance(row, ViewVersion):
            view.documents.append(
                PortalDocumentVersion(
                    id=row.version_id,
                    document_id=row.document_id,
                    document_title=row.document_title,
                    kind=row.kind,
                    number=row.number,
                    file_name=row.file_name,
                    media_type=row.media_type,
                    size=row.size,
                )
            )
        elif isinstance(row, ViewFile):
            view.files.append(
                PortalFile(id=row.file_id, file_name=row.file_name, media_type=row.media_type, size=row.size)
            )
    view.deals.sort(key=lambda deal: (deal.title, str(deal.id)))
    view.tasks.sort(key=lambda task: (task.title, str(task.id)))
    view.documents.sort(key=lambda version: (version.document_title, version.number, str(version.id)))
    view.files.sort(key=lambda file: (file.file_name, str(file.id)))
    return view


async def company_name(session: AsyncSession, company_id: uuid.UUID) -> str | None:
    company = await session.get(SourceCompany, company_id)
    return company.name if company is not None else None


async def read_view(session: AsyncSession, company_id: uuid.UUID) -> PortalView:
    """Read the company's materialized view: exactly what its portal users receive."""
    rows: list[Any] = []
    for table in (ViewDeal, ViewTask, ViewVersion, ViewFile):
        rows.extend(await session.scalars(select(table).where(table.company_id == company_id)))
    return build_view(company_id, await company_name(session, company_id), rows)


def diff_views(current: PortalView, proposed: PortalView) -> ViewDiff:
    """Compare two views of one company: new records, new fields of shared deals, and hidden records."""
    newly = PortalView(company_id=proposed.company_id, company_name=proposed.company_name)
    hidden: list[str] = []
    fields: list[str] = []
    for kind in ("deals", "tasks", "documents", "files"):
        before = {item.id: item for item in getattr(current, kind)}
        after = {item.id: item for item in getattr(proposed, kind)}
        getattr(newly, kind).extend(item for item_id, item in after.items() if item_id not in before)
        hidden.extend(f"{kind} {item_id}" for item_id in before if item_id not in after)
    current_deals = {deal.id: deal for deal in current.deals}
    for deal in proposed.deals:
        old = current_deals.get(deal.id)
        if old is None:
            continue
        for name in ("stage_name", "next_step", "amount", "currency"):
            if getattr(deal, name) is not None and getattr(old, name) is None:
                fields.append(f"deal {deal.id}: {name}")
    return ViewDiff(newly_exposed=newly, newly_exposed_fields=fields, hidden=hidden, proposed=proposed)
