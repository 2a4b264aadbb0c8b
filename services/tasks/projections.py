"""Projections of CRM deals, companies and contacts, and the task moves they cause."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import (
    CompanyCreated,
    CompanyUpdated,
    ContactCreated,
    ContactUpdated,
    DealCreated,
    DealUpdated,
)
from contracts.tasks import ClientReference
from servicekit.settings import ServiceSettings
from services.tasks import domain
from services.tasks.changes import Cause, record_change
from services.tasks.tables import CompanyReference, ContactReference, DealReference, Task

logger = logging.getLogger(__name__)


async def project_deal(session: AsyncSession, settings: ServiceSettings, event: DealCreated | DealUpdated) -> None:
    """Keep the deal reference current, and move the deal's open tasks when its client changed."""
    deal = event.data.deal
    await session.merge(
        DealReference(
            deal_id=deal.id,
            title=deal.title,
            company_id=deal.company_id,
            primary_contact_id=deal.primary_contact_id,
            contact_ids=[str(contact_id) for contact_id in deal.contact_ids],
            project_id=deal.project_id,
            client_legal_entity_id=deal.client_legal_entity_id,
            our_legal_entity_id=deal.our_legal_entity_id,
            owner_id=deal.owner_id,
            department=deal.department,
            workgroup=deal.workgroup,
            stage_name=deal.stage_name,
            stage_semantics=deal.stage_semantics,
            deleted=deal.deleted,
        )
    )
    if isinstance(event, DealUpdated):
        await follow_deal_client(session, settings, event)


async def follow_deal_client(session: AsyncSession, settings: ServiceSettings, event: DealUpdated) -> None:
    """Give every open task of the deal the deal's new client, with a history entry and a ``TaskUpdated``."""
    deal = event.data.deal
    target = domain.DealClient(
        deal_id=deal.id,
        company_id=deal.company_id,
        primary_contact_id=deal.primary_contact_id,
        contact_ids=frozenset(deal.contact_ids),
        project_id=deal.project_id,
    )
    tasks = await session.scalars(
        select(Task)
        .where(Task.deal_id == deal.id, Task.status.in_(domain.OPEN_STATUSES), Task.deleted.is_(False))
        .order_by(Task.id)
        .with_for_update()
    )
    cause = Cause(event.actor, event.correlation_id, event.event_id)
    for task in tasks:
        before = ClientReference(
            company_id=task.company_id, contact_id=task.contact_id, project_id=task.project_id, deal_id=task.deal_id
        )
        after = domain.follow_deal(before, target)
        if after == before:
            continue
        task.company_id, task.contact_id, task.project_id = after.company_id, after.contact_id, after.project_id
        await record_change(
            session,
            settings,
            task,
            cause,
            kind="client_changed",
            changed=["client"],
            summary=_client_change_summary(deal.id, before, after),
            details={
                "deal_id": str(deal.id),
                "deal_version": event.aggregate_version,
                "from": before.model_dump(mode="json"),
                "to": after.model_dump(mode="json"),
            },
        )
        logger.info("task %s follows deal %s to company %s", task.id, deal.id, after.company_id)


def _client_change_summary(deal_id: uuid.UUID, before: ClientReference, after: ClientReference) -> str:
    changes = [
        f"{kind} {getattr(before, kind + '_id') or 'none'} → {getattr(after, kind + '_id') or 'none'}"
        for kind in ("company", "contact", "project")
        if getattr(before, kind + "_id") != getattr(after, kind + "_id")
    ]
    return f"Client changed with deal {deal_id}: " + "; ".join(changes)


async def project_company(session: AsyncSession, event: CompanyCreated | CompanyUpdated) -> None:
    """Keep the company reference that tasks take names and access from."""
    company = event.data
    await session.merge(
        CompanyReference(
            company_id=company.id,
            name=company.name,
            owner_id=company.owner_id,
            department=company.department,
            workgroup=company.workgroup,
            deleted=company.deleted,
        )
    )


async def project_contact(
    session: AsyncSession, settings: ServiceSettings, event: ContactCreated | ContactUpdated
) -> None:
    """Keep the contact reference current, and move the contact's open tasks when it changed company."""
    contact = event.data
    previous = await session.get(ContactReference, contact.id)
    moved = previous is not None and previous.company_id != contact.company_id
    await session.merge(
        ContactReference(
            contact_id=contact.id,
            company_id=contact.company_id,
            name=contact.name,
            owner_id=contact.owner_id,
            department=contact.department,
            deleted=contact.deleted,
        )
    )
    if moved:
        await follow_contact_company(session, settings, event)


async def follow_contact_company(
    session: AsyncSession,
    settings: ServiceSettings,
    event: ContactCreated | ContactUpdated,
) -> None:
    """Give the contact's open tasks without a deal the contact's new company; tasks with a deal follow the deal."""
    contact = event.data
    tasks = await session.scalars(
        select(Task)
        .where(
            Task.contact_id == contact.id,
            Task.deal_id.is_(None),
            Task.status.in_(domain.OPEN_STATUSES),
            Task.deleted.is_(False),
        )
        .order_by(Task.id)
        .with_for_update()
    )
    cause = Cause(event.actor, event.correlation_id, event.event_id)
    for task in tasks:
        before = task.company_id
        if before == contact.company_id:
            continue
        task.company_id = contact.company_id
        await record_change(
            session,
            settings,
            task,
            cause,
            kind="client_changed",
            changed=["client"],
            summary=f"Client changed with contact {contact.id}: company {before or 'none'} → "
            f"{contact.company_id or 'none'}",
            details={
                "contact_id": str(contact.id),
                "contact_version": event.aggregate_version,
                "from": {"company_id": str(before) if before else None},
                "to": {"company_id": str(contact.company_id) if contact.company_id else None},
            },
        )
