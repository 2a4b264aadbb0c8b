"""Builders of contract events for tests."""

from __future__ import annotations

import uuid

from contracts.crm import DealChange, DealCreated, DealSource, DealState, DealUpdated
from contracts.envelope import Actor, ActorType

PIPELINE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f0001")
STAGE_ID = uuid.UUID("6f1c1c57-5a51-4c8e-9a39-0d6f2c3f1001")


def deal_event(
    deal_id: uuid.UUID,
    version: int,
    title: str,
    *,
    department: str | None = "sales",
    owner_id: str | None = "u-owner",
) -> DealCreated | DealUpdated:
    """Build the event that leaves deal ``deal_id`` at ``version`` with ``title``."""
    state = DealState(
        id=deal_id,
        title=title,
        pipeline_id=PIPELINE_ID,
        stage_id=STAGE_ID,
        stage_name="New",
        owner_id=owner_id,
        department=department,
        source=DealSource(kind="manual"),
    )
    event_class = DealCreated if version == 1 else DealUpdated
    return event_class(
        producer="crm",
        aggregate_id=deal_id,
        aggregate_version=version,
        correlation_id=str(uuid.uuid4()),
        actor=Actor(type=ActorType.USER, id="u-test"),
        data=DealChange(deal=state, changed=["title"]),
    )
