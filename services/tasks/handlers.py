"""Use cases of the tasks service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import DealCreated, DealUpdated
from services.tasks.tables import DealReference


async def project_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
    """Keep the deal reference that new tasks take their client from."""
    deal = event.data.deal
    await session.merge(
        DealReference(
            deal_id=deal.id,
            title=deal.title,
            company_id=deal.company_id,
            primary_contact_id=deal.primary_contact_id,
            owner_id=deal.owner_id,
            department=deal.department,
        )
    )
