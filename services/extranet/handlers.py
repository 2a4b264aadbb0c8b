"""Use cases of the extranet service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import DealCreated, DealUpdated
from services.extranet.tables import ClientDeal


async def project_deal(session: AsyncSession, event: DealCreated | DealUpdated) -> None:
    """Record which client company a deal belongs to, and nothing of its content."""
    deal = event.data.deal
    await session.merge(ClientDeal(deal_id=deal.id, company_id=deal.company_id))
