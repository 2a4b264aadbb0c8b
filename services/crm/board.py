"""The live board as one user sees it: cards, totals per stage, and the changes after a log position.

Every function here reads in batches: one query for the deals, one for their clients' companies and
one for their primary contacts, whatever the number of deals. Access is decided in memory with the
same policy as ``GET /pipelines/{id}/board`` and the deal API.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.crm.boardlog import head_position
from services.crm.guard import Guard
from services.crm.tables import BoardChange, Company, Contact, Deal, Pipeline, Stage

#: Log rows read per round; a longer backlog is sent in several updates.
BATCH_ROWS = 500


@dataclass(frozen=True)
class _Owner:
    owner_id: str | None
    department: str | None


@dataclass
class ChangeBatch:
    """Deals to show again and ids to take off a user's board, up to ``position``."""

    position: int
    deals: list[dict[str, Any]]
    removed: list[str]


def may_read_deal(
    guard: Guard,
    pipeline_id: uuid.UUID,
    owner_id: str | None,
    department: str | None,
    workgroup: str | None,
    *,
    deal_id: uuid.UUID | None = None,
) -> bool:
    """Decide whether the guard's user may read a deal of this pipeline with these owner fields.

    A granted access request for ``deal_id`` lets the user read it whatever the owner fields.
    """
    if deal_id is not None and deal_id in guard.granted_ids("deal"):
        return True
    decision = guard.policy.check(
        guard.user,
        "deal",
        "read",
        _Owner(owner_id, department),
        workgroup=workgroup,
        pipeline_key=guard.pipeline_keys.get(pipeline_id),
    )
    return decision.allowed


def _readable(guard: Guard, deal: Deal, pipeline_id: uuid.UUID) -> bool:
    return (
        deal.pipeline_id == pipeline_id
        and not deal.deleted
        and may_read_deal(guard, pipeline_id, deal.owner_id, deal.department, deal.workgroup, deal_id=deal.id)
    )


async def stages_of(session: AsyncSession, pipeline_id: uuid.UUID) -> list[Stage]:
    query = select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)
    return list(await session.scalars(query))


async def readable_deals(session: AsyncSession, guard: Guard, pipeline_id: uuid.UUID) -> list[Deal]:
    """Return the deals on the pipeline's board that the user may read, newest first."""
    condition = guard.policy.condition(
        guard.user, "deal", "read", Deal, pipeline_keys={pipeline_id: guard.pipeline_keys.get(pipeline_id, "")}
    )
    granted = guard.granted_ids("deal")
    if granted:
        condition = or_(condition, Deal.id.in_(granted))
    query = (
        select(Deal)
        .where(Deal.pipeline_id == pipeline_id, Deal.deleted.is_(False), condition)
        .order_by(Deal.created_at.desc())
    )
    # The SQL condition narrows the rows; the in-memory check stays the authority.
    return [deal for deal in await session.scalars(query) if _readable(guard, deal, pipeline_id)]


def totals(stages: list[Stage], deals: list[Deal]) -> dict[str, Any]:
    """Return the count, sums per currency and marker counts of each stage, and the board's marker counts."""
    per_stage: dict[uuid.UUID, list[Deal]] = defaultdict(list)
    for deal in deals:
        per_stage[deal.stage_id].append(deal)
    board_markers: Counter[str] = Counter()
    columns: dict[str, Any] = {}
    for stage in stages:
        sums: dict[str, Decimal] = defaultdict(Decimal)
        markers: Counter[str] = Counter()
        for deal in per_stage.get(stage.id, []):
            if deal.amount is not None and deal.currency:
                sums[deal.currency] += deal.amount
            markers.update(item["kind"] for item in deal.markers)
        board_markers.update(markers)
        columns[str(stage.id)] = {
            "count": len(per_stage.get(stage.id, [])),
            "sums": {currency: str(total) for currency, total in sorted(sums.items())},
            "markers": dict(sorted(markers.items())),
        }
    return {"stages": columns, "markers": dict(sorted(board_markers.items()))}


async def cards(session: AsyncSession, guard: Guard, deals: list[Deal]) -> list[dict[str, Any]]:
    """Return the board card of each deal, with its client as a name or as a restricted reference."""
    company_ids = {deal.company_id for deal in deals if deal.company_id is not None}
    contact_ids = {deal.primary_contact_id for deal in deals if deal.primary_contact_id is not None}
    companies = await _by_id(session, Company, company_ids)
    contacts = await _by_id(session, Contact, contact_ids)
    return [_card(guard, deal, companies, contacts) for deal in deals]


async def _by_id(session: AsyncSession, table: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(table).where(table.id.in_(ids)))}


def _card(
    guard: Guard, deal: Deal, companies: dict[uuid.UUID, Company], contacts: dict[uuid.UUID, Contact]
) -> dict[str, Any]:
    return {
        "id": str(deal.id),
        "version": deal.version,
        "title": deal.title,
        "stage_id": str(deal.stage_id),
        "amount": str(deal.amount) if deal.amount is not None else None,
        "currency": deal.currency,
        "owner_id": deal.owner_id,
        "department": deal.department,
        "next_step": deal.next_step,
        "markers": [item["kind"] for item in deal.markers],
        "client": _client(guard, deal, companies, contacts),
        "updated_at": deal.updated_at.isoformat(),
    }


def _client(
    guard: Guard, deal: Deal, companies: dict[uuid.UUID, Company], contacts: dict[uuid.UUID, Contact]
) -> dict[str, Any] | None:
    """Return the company, else the primary contact, else the contact name copied on the deal."""
    if deal.company_id is not None:
        company = companies.get(deal.company_id)
        workgroup = company.workgroup if company is not None else None
        return _reference(guard, "company", deal.company_id, company, workgroup)
    if deal.primary_contact_id is not None:
        return _reference(guard, "contact", deal.primary_contact_id, contacts.get(deal.primary_contact_id), None)
    if deal.contact_name:
        return {"type": "person", "status": "ok", "name": deal.contact_name}
    return None


def _reference(
    guard: Guard, entity: str, record_id: uuid.UUID, row: Company | Contact | None, workgroup: str | None
) -> dict[str, Any]:
    base: dict[str, Any] = {"id": str(record_id), "type": entity}
    if row is None:
        return {**base, "status": "not_found"}
    if row.deleted:
        return {**base, "status": "deleted"}
    decision = guard.policy.check(guard.user, entity, "read", row, workgroup=workgroup)
    if not decision.allowed and record_id not in guard.granted_ids(entity):
        owner = {"id": row.owner_id, "department": row.department}
        return {**base, "status": "restricted", "reason": decision.reason, "owner": owner}
    return {**base, "status": "ok", "name": row.name}


async def snapshot(session: AsyncSession, guard: Guard, pipeline: Pipeline) -> tuple[int, dict[str, Any]]:
    """Return the log position and the whole board as the user sees it at (or after) that position.

    The position is read first, so a change that commits while the board loads is sent again by the
    next update. Updates carry whole cards, so applying one twice changes nothing.
    """
    position = await head_position(session, pipeline.id)
    stages = await stages_of(session, pipeline.id)
    deals = await readable_deals(session, guard, pipeline.id)
    body = {
        "pipeline": {"id": str(pipeline.id), "key": pipeline.key, "name": pipeline.name},
        "stages": [
            {"id": str(stage.id), "name": stage.name, "semantics": stage.semantics, "position": stage.position}
            for stage in stages
        ],
        # NOTE: a board sends every readable deal. Pipelines with thousands of open deals would need paging.
        "deals": await cards(session, guard, deals),
        "totals": totals(stages, deals),
    }
    return position, body


async def resumable(session: AsyncSession, pipeline_id: uuid.UUID, after: int) -> bool:
    """Decide whether the log still contains every change after position ``after``."""
    head = await head_position(session, pipeline_id)
    if after > head or after < 0:
        return False  # a position this database never gave out, such as one from before a restore
    if after == head:
        return True
    oldest = await session.scalar(select(func.min(BoardChange.position)).where(BoardChange.pipeline_id == pipeline_id))
    return oldest is not None and oldest <= after + 1


async def changes_after(
    session: AsyncSession, guard: Guard, pipeline_id: uuid.UUID, after: int, shown: set[str]
) -> ChangeBatch | None:
    """Return the user's view of the changes after position ``after``, or None when there are none.

    ``shown`` contains the ids this connection has put on the user's board. A deal leaves the board when the
    user had it (by the log's owner fields before its first change in the batch, or by ``shown``) and may
    no longer read it here: its new content is never sent.
    """
    query = (
        select(BoardChange)
        .where(BoardChange.pipeline_id == pipeline_id, BoardChange.position > after)
        .order_by(BoardChange.position)
        .limit(BATCH_ROWS)
    )
    rows = list(await session.scalars(query))
    if not rows:
        return None
    first_rows: dict[uuid.UUID, BoardChange] = {}
    for row in rows:
        first_rows.setdefault(row.deal_id, row)
    current = {deal.id: deal for deal in await session.scalars(select(Deal).where(Deal.id.in_(first_rows)))}

    visible: list[Deal] = []
    removed: list[str] = []
    for deal_id, first in first_rows.items():
        deal = current.get(deal_id)
        if deal is not None and _readable(guard, deal, pipeline_id):
            visible.append(deal)
        elif str(deal_id) in shown or _had(guard, first):
            removed.append(str(deal_id))
    return ChangeBatch(rows[-1].position, await cards(session, guard, visible), removed)


def _had(guard: Guard, row: BoardChange) -> bool:
    """Decide whether the user had the deal on this board just before the logged change."""
    return row.was_present and may_read_deal(
        guard, row.pipeline_id, row.was_owner_id, row.was_department, row.was_workgroup, deal_id=row.deal_id
    )
