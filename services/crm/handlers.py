"""Use cases of the CRM: create deals by hand and from accepted inquiries."""

from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import DealChange, DealCreated, DealSource, DealState
from contracts.envelope import Actor
from contracts.intake import RequestAccepted
from contracts.topics import Topic
from servicekit.errors import ValidationFailed
from servicekit.outbox import record_event
from servicekit.settings import ServiceSettings
from services.crm.tables import Deal, Pipeline, Stage


class CreateDeal(BaseModel):
    """Create a deal in a pipeline's first stage."""

    title: str = Field(min_length=1, max_length=500)
    pipeline_key: str | None = Field(default=None, description="Pipeline key; the default pipeline when unset.")
    amount: Decimal | None = Field(default=None, ge=0, max_digits=18, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    owner_id: str | None = None
    department: str | None = None
    contact_name: str | None = Field(default=None, max_length=500)
    contact_phone: str | None = Field(default=None, max_length=32)
    contact_email: str | None = Field(default=None, max_length=320)
    description: str | None = None


async def create_deal(
    session: AsyncSession,
    settings: ServiceSettings,
    command: CreateDeal,
    *,
    actor: Actor,
    correlation_id: str,
    source: DealSource,
    request_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
) -> DealState:
    """Create a deal and record ``DealCreated`` in the same transaction."""
    pipeline_key = command.pipeline_key or getattr(settings, "default_pipeline_key", "sales")
    pipeline = await session.scalar(select(Pipeline).where(Pipeline.key == pipeline_key))
    if pipeline is None:
        raise ValidationFailed(f"pipeline {pipeline_key!r} does not exist", field="pipeline_key")
    stage = await session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position))
    if stage is None:
        raise ValidationFailed(f"pipeline {pipeline_key!r} has no stages", field="pipeline_key")

    deal = Deal(
        id=uuid.uuid4(),
        version=1,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        source=source.model_dump(mode="json"),
        request_id=request_id,
        **command.model_dump(exclude={"pipeline_key"}),
    )
    session.add(deal)
    state = deal_state(deal, stage)
    record_event(
        session,
        settings.topic(Topic.CRM_DEALS),
        DealCreated(
            producer=settings.service_name,
            aggregate_id=deal.id,
            aggregate_version=deal.version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=actor,
            data=DealChange(deal=state, changed=sorted(DealState.model_fields)),
        ),
    )
    return state


async def create_deal_from_request(session: AsyncSession, settings: ServiceSettings, event: RequestAccepted) -> None:
    """Turn an accepted inquiry into a deal, once per request."""
    inquiry = event.data
    existing = await session.scalar(select(Deal.id).where(Deal.request_id == inquiry.id))
    if existing is not None:
        return
    command = CreateDeal(
        title=inquiry.title[:500],
        pipeline_key=inquiry.pipeline_key,
        owner_id=inquiry.owner_id,
        contact_name=inquiry.contact.name,
        contact_phone=inquiry.contact.phone,
        contact_email=inquiry.contact.email,
        description=inquiry.message,
    )
    source = DealSource(
        kind="form" if inquiry.source == "form" else "channel",
        request_id=inquiry.id,
        form_key=inquiry.form_key,
        channel=inquiry.channel,
        utm=inquiry.utm,
    )
    await create_deal(
        session,
        settings,
        command,
        actor=event.actor,
        correlation_id=event.correlation_id,
        source=source,
        request_id=inquiry.id,
        causation_id=event.event_id,
    )


def deal_state(deal: Deal, stage: Stage) -> DealState:
    return DealState(
        id=deal.id,
        title=deal.title,
        pipeline_id=deal.pipeline_id,
        stage_id=stage.id,
        stage_name=stage.name,
        amount=deal.amount,
        currency=deal.currency,
        owner_id=deal.owner_id,
        department=deal.department,
        contact_name=deal.contact_name,
        contact_phone=deal.contact_phone,
        contact_email=deal.contact_email,
        source=DealSource.model_validate(deal.source),
    )
