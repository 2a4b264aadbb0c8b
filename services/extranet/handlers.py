"""Consumers of CRM, tasks and documents events: keep the source candidates and write the client view.

Each event updates the candidate row of its aggregate and then writes that one item's view row
through the company's current policy. A policy change rewrites the whole company from the
candidates (:func:`materialize_company`), so the topics need not be replayed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import CompanyCreated, CompanyUpdated, ContactCreated, ContactUpdated, DealCreated, DealUpdated
from contracts.documents import DocumentCreated, DocumentUpdated, FileCreated, FileUpdated
from contracts.tasks import TaskCreated, TaskUpdated
from services.extranet.policy import SharingPolicy, deal_view, file_view, task_view, version_view
from services.extranet.tables import (
    SharingPolicyRow,
    SourceCompany,
    SourceContact,
    SourceDeal,
    SourceFile,
    SourceTask,
    SourceVersion,
    ViewDeal,
    ViewFile,
    ViewTask,
    ViewVersion,
)


async def load_policy(session: AsyncSession, company_id: uuid.UUID | None) -> SharingPolicy:
    """Return the company's policy in force; a deleted company, or one without a policy, shares nothing."""
    if company_id is None:
        return SharingPolicy()
    row = await session.get(SharingPolicyRow, company_id)
    policy = SharingPolicy.model_validate(row.policy) if row is not None else SharingPolicy()
    return await effective_policy(session, company_id, policy)


async def effective_policy(session: AsyncSession, company_id: uuid.UUID, policy: SharingPolicy) -> SharingPolicy:
    """Return ``policy``, or the policy that shares nothing when the company was deleted in CRM."""
    company = await session.get(SourceCompany, company_id)
    return SharingPolicy() if company is not None and company.deleted else policy


async def project_company(session: AsyncSession, event: CompanyCreated | CompanyUpdated) -> None:
    """Keep the company's name and managing department; deleting the company empties its view."""
    company = event.data
    previous = await session.get(SourceCompany, company.id)
    was_deleted = previous is not None and previous.deleted
    await session.merge(
        SourceCompany(
            company_id=company.id,
            name=company.name,
            department=company.department,
            owner_id=company.owner_id,
            deleted=company.deleted,
        )
    )
    if company.deleted != was_deleted:
        await materialize_company(session, company.id, await load_policy(session, company.id))


async def project_contact(session: AsyncSession, event: ContactCreated | ContactUpdated) -> None:
    """Keep which company a contact belongs to, and nothing of the person."""
    contact = event.data
    await session.merge(SourceContact(contact_id=contact.id, company_id=contact.company_id, deleted=contact.deleted))


async def project_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
    """Keep the deal's shareable fields and rewrite its view row."""
    deal = event.data.deal
    candidate = SourceDeal(
        deal_id=deal.id,
        company_id=deal.company_id,
        pipeline_id=deal.pipeline_id,
        title=deal.title,
        stage_name=deal.stage_name,
        stage_semantics=deal.stage_semantics,
        # The contract may add next_step as an optional field; until then no deal has one.
        next_step=getattr(deal, "next_step", None),
        amount=deal.amount,
        currency=deal.currency,
        deleted=deal.deleted,
    )
    await session.merge(candidate)
    await session.execute(delete(ViewDeal).where(ViewDeal.deal_id == deal.id))
    _add(session, deal_view(await load_policy(session, deal.company_id), candidate))


async def project_task(session: AsyncSession, event: TaskCreated | TaskUpdated) -> None:
    """Keep the task's flag, and its client-facing fields only while it is flagged for the client."""
    task = event.data.task
    shown = task.visible_to_client and not task.deleted
    candidate = SourceTask(
        task_id=task.id,
        company_id=task.client.company_id,
        visible_to_client=task.visible_to_client,
        title=task.title if shown else None,
        status=task.status if shown else None,
        due_at=task.due_at if shown else None,
        public_text=task.result.public_text if shown and task.result is not None else None,
        deleted=task.deleted,
    )
    await session.merge(candidate)
    await session.execute(delete(ViewTask).where(ViewTask.task_id == task.id))
    _add(session, task_view(await load_policy(session, candidate.company_id), candidate))


async def project_document(session: AsyncSession, event: DocumentCreated | DocumentUpdated) -> None:
    """Keep the document's published versions only, and rewrite their view rows."""
    document = event.data.document
    await session.execute(delete(SourceVersion).where(SourceVersion.document_id == document.id))
    await session.execute(delete(ViewVersion).where(ViewVersion.document_id == document.id))
    if document.deleted:
        return

    policy = await load_policy(session, document.company_id)
    published = set(document.published_version_ids)
    for version in document.versions:
        if version.id not in published:
            continue
        candidate = SourceVersion(
            version_id=version.id,
            document_id=document.id,
            company_id=document.company_id,
            document_title=document.title,
            kind=document.kind,
            number=version.number,
            file_name=version.file_name,
            media_type=version.media_type,
            size=version.size,
        )
        session.add(candidate)
        _add(session, version_view(policy, candidate))


async def project_file(session: AsyncSession, event: FileCreated | FileUpdated) -> None:
    """Keep a file only while it is shared with the client, and rewrite its view row."""
    file = event.data
    await session.execute(delete(SourceFile).where(SourceFile.file_id == file.id))
    await session.execute(delete(ViewFile).where(ViewFile.file_id == file.id))
    if file.deleted or not file.shared_with_client:
        return

    candidate = SourceFile(
        file_id=file.id,
        company_id=file.company_id,
        file_name=file.file_name,
        media_type=file.media_type,
        size=file.size,
    )
    session.add(candidate)
    _add(session, file_view(await load_policy(session, file.company_id), candidate))


async def materialize_company(session: AsyncSession, company_id: uuid.UUID, policy: SharingPolicy) -> None:
    """Rewrite the company's whole view from its candidates under ``policy``."""
    for table in (ViewDeal, ViewTask, ViewVersion, ViewFile):
        await session.execute(delete(table).where(table.company_id == company_id))
    for row in await compute_view_rows(session, company_id, policy):
        session.add(row)


async def compute_view_rows(session: AsyncSession, company_id: uuid.UUID, policy: SharingPolicy) -> list[Any]:
    """Build, without writing them, the view rows the company would have under ``policy``."""
    rows: list[Any] = []
    for deal in await session.scalars(select(SourceDeal).where(SourceDeal.company_id == company_id)):
        rows.append(deal_view(policy, deal))
    for task in await session.scalars(select(SourceTask).where(SourceTask.company_id == company_id)):
        rows.append(task_view(policy, task))
    for version in await session.scalars(select(SourceVersion).where(SourceVersion.company_id == company_id)):
        rows.append(version_view(policy, version))
    for file in await session.scalars(select(SourceFile).where(SourceFile.company_id == company_id)):
        rows.append(file_view(policy, file))
    return [row for row in rows if row is not None]


def _add(session: AsyncSession, row: Any) -> None:
    if row is not None:
        session.add(row)
