"""CRM's HTTP routes for deals."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from contracts.crm import DealSource, DealState
from contracts.envelope import Actor, ActorType
from servicekit.auth import CurrentUser, Principal
from servicekit.errors import NotFound, PermissionDenied
from servicekit.logs import correlation_id
from services.crm.handlers import CreateDeal, create_deal, deal_state
from services.crm.tables import Deal, Stage

router = APIRouter()


def _can_read(user: Principal, deal: Deal) -> bool:
    return (
        user.is_admin
        or deal.owner_id == user.user_id
        or (deal.department is not None and deal.department == user.department)
    )


@router.post("/deals", status_code=201)
async def post_deal(request: Request, body: CreateDeal, user: CurrentUser) -> DealState:
    """Create a deal in the first stage of its pipeline."""
    runtime = request.app.state.runtime
    if body.owner_id is None:
        body = body.model_copy(
            update={
                "owner_id": user.user_id,
                "department": body.department or user.department,
            }
        )
    async with runtime.sessionmaker() as session, session.begin():
        state = await create_deal(
            session,
            runtime.settings,
            body,
            actor=Actor(type=ActorType.USER, id=user.user_id, name=user.name),
            correlation_id=correlation_id() or str(uuid.uuid4()),
            source=DealSource(kind="manual"),
        )
    runtime.relay.notify()
    return state


@router.get("/deals/{deal_id}")
async def get_deal(request: Request, deal_id: uuid.UUID, user: CurrentUser) -> DealState:
    """Return a deal the user may read; 403 names the owner to ask otherwise."""
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        deal = await session.get(Deal, deal_id)
        if deal is None:
            raise NotFound(f"deal {deal_id} not found", id=str(deal_id), status="not_found")
        if not _can_read(user, deal):
            raise PermissionDenied(
                f"deal {deal_id} is restricted; ask its owner for access",
                id=str(deal_id),
                status="restricted",
                reason="the deal belongs to another department",
                owner=deal.owner_id,
            )
        stage = await session.get_one(Stage, deal.stage_id)
        return deal_state(deal, stage)


@router.get("/deals")
async def list_deals(request: Request, user: CurrentUser, request_id: uuid.UUID | None = None) -> dict[str, Any]:
    """List the deals the user may read, optionally the one made from an intake request."""
    runtime = request.app.state.runtime
    query = select(Deal, Stage).join(Stage, Stage.id == Deal.stage_id).order_by(Deal.created_at.desc()).limit(200)
    if request_id is not None:
        query = query.where(Deal.request_id == request_id)
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(query)).all()
    return {"items": [deal_state(deal, stage) for deal, stage in rows if _can_read(user, deal)]}
