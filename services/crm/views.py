"""Read models built on request: a deal's relationship card, a client's workspace and a pipeline's board."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from services.crm.clients import company_state, contact_state, legal_entity_state, project_state
from services.crm.guard import Guard, Reference
from services.crm.handlers import DealContext, deal_context, deal_state
from services.crm.tables import (
    Company,
    Contact,
    Deal,
    DealContact,
    DocumentView,
    FileView,
    LegalEntity,
    Pipeline,
    Project,
    Stage,
    TaskView,
)

OPEN_TASKS = ("new", "in_progress", "returned")
LIST_LIMIT = 200


async def relationship_card(session: AsyncSession, guard: Guard, ctx: DealContext) -> dict[str, Any]:
    """Return the deal with its client, company, contacts, legal entities, project and linked counts."""
    deal = ctx.deal
    company = await session.get(Company, deal.company_id) if deal.company_id else None
    company_ref = await guard.reference(
        session, "company", deal.company_id, company, company_state(company) if company else None
    )
    contacts = [await _contact_ref(session, guard, contact_id) for contact_id in ctx.contact_ids]
    primary = next((ref for ref in contacts if ref and ref["id"] == str(deal.primary_contact_id)), None)

    client_entity = await _legal_entity_ref(session, guard, deal.client_legal_entity_id)
    our_entity = await _legal_entity_ref(session, guard, deal.our_legal_entity_id)
    project = await session.get(Project, deal.project_id) if deal.project_id else None
    project_ref = await guard.reference(
        session, "project", deal.project_id, project, project_state(project) if project else None
    )

    # The client is the company, or the primary contact of a deal with a private person.
    client = company_ref or primary
    return {
        "deal": deal_state(deal, ctx.stage, ctx.contact_ids).model_dump(mode="json"),
        # The deal's version, to send back as If-Match with a change made from this card.
        "version": deal.version,
        "client": client,
        "company": company_ref,
        "contacts": contacts,
        "primary_contact": primary,
        "client_legal_entity": client_entity,
        "our_legal_entity": our_entity,
        "project": project_ref,
        "counts": {
            "tasks": await _count(session, TaskView, TaskView.deal_id == deal.id),
            "open_tasks": await _count(session, TaskView, TaskView.deal_id == deal.id, TaskView.status.in_(OPEN_TASKS)),
            "documents": await _count(session, DocumentView, DocumentView.deal_id == deal.id),
            "files": await _count(session, FileView, FileView.deal_id == deal.id),
        },
    }


async def _contact_ref(session: AsyncSession, guard: Guard, contact_id: uuid.UUID) -> Reference | None:
    contact = await session.get(Contact, contact_id)
    return await guard.reference(session, "contact", contact_id, contact, contact_state(contact) if contact else None)


async def _legal_entity_ref(session: AsyncSession, guard: Guard, entity_id: uuid.UUID | None) -> Reference | None:
    entity = await session.get(LegalEntity, entity_id) if entity_id else None
    state = legal_entity_state(entity) if entity else None
    return await guard.reference(session, "legal_entity", entity_id, entity, state)


async def _count(session: AsyncSession, table: Any, *conditions: Any) -> int:
    query = select(func.count()).select_from(table).where(table.deleted.is_(False), *conditions)
    return int(await session.scalar(query) or 0)


async def company_workspace(session: AsyncSession, guard: Guard, company: Company) -> dict[str, Any]:
    """Return the company's contacts, deals, tasks, documents and files, each with a counter."""
    deal_rows = list(await session.scalars(_deals_where(Deal.company_id == company.id)))
    contacts = list(
        await session.scalars(
            select(Contact).where(Contact.company_id == company.id, Contact.deleted.is_(False)).limit(LIST_LIMIT)
        )
    )
    return {
        "company": company_state(company).model_dump(mode="json"),
        "contacts": await _section(session, guard, "contact", contacts, contact_state),
        "deals": await _deal_section(session, guard, deal_rows),
        "tasks": await _task_section(session, guard, TaskView.company_id == company.id),
        "documents": await _document_section(session, guard, DocumentView.company_id == company.id),
        "files": await _file_section(session, guard, FileView.company_id == company.id),
    }


async def contact_workspace(session: AsyncSession, guard: Guard, contact: Contact) -> dict[str, Any]:
    """Return the contact's deals, tasks, and the documents and files of those deals, each with a counter."""
    deal_ids = select(DealContact.deal_id).where(DealContact.contact_id == contact.id)
    deal_rows = list(await session.scalars(_deals_where(Deal.id.in_(deal_ids))))
    return {
        "contact": contact_state(contact).model_dump(mode="json"),
        "deals": await _deal_section(session, guard, deal_rows),
        "tasks": await _task_section(session, guard, TaskView.contact_id == contact.id),
        "documents": await _document_section(session, guard, DocumentView.deal_id.in_(deal_ids)),
        "files": await _file_section(session, guard, FileView.deal_id.in_(deal_ids)),
    }


def _deals_where(condition: Any) -> Any:
    return select(Deal).where(condition, Deal.deleted.is_(False)).order_by(Deal.created_at.desc()).limit(LIST_LIMIT)


async def _section(session: AsyncSession, guard: Guard, entity: str, rows: list[Any], state: Any) -> dict[str, Any]:
    items = [await guard.reference(session, entity, row.id, row, state(row)) for row in rows]
    return {"count": len(rows), "items": items}


async def _deal_section(session: AsyncSession, guard: Guard, rows: list[Deal]) -> dict[str, Any]:
    items = []
    for row in rows:
        ctx = await deal_context(session, row)
        items.append(await guard.reference(session, "deal", row.id, row, deal_state(row, ctx.stage, ctx.contact_ids)))
    return {"count": len(rows), "items": items}


def _projected_restriction(user: Principal, entity: str, row: Any) -> str | None:
    """Return why ``user`` may not see a projected task, document or file, or None when they may.

    The rules follow the owning service. A task opens to its owner and workgroup members (and, in
    ``_task_section``, to the readers of its deal), never to its owner's department. A document or file
    opens to its owner and, at the department level, to its department, but a document of a workgroup
    only to that workgroup's members.
    """
    if user.is_admin or (row.owner_id is not None and row.owner_id == user.user_id):
        return None
    workgroup = getattr(row, "workgroup", None)
    if workgroup is not None:
        return None if workgroup in user.workgroups else f"the {entity} belongs to workgroup {workgroup!r}"
    if entity == "task":
        # NOTE: the projection lacks the task's creator and observers, whom the tasks service also lets in.
        return "the task is visible to its owner, creator, observers and the readers of its deal"
    if row.department is not None and row.department == user.department:
        return None
    return f"the {entity} belongs to another department"


def _projected_ref(user: Principal, entity: str, row: Any, content: dict[str, Any]) -> Reference:
    reason = _projected_restriction(user, entity, row)
    if reason is None:
        return {"id": str(row.id), "type": entity, "status": "ok", "record": content}
    return {
        "id": str(row.id),
        "type": entity,
        "status": "restricted",
        "reason": reason,
        "owner": {"id": row.owner_id, "department": row.department},
    }


async def _task_section(session: AsyncSession, guard: Guard, condition: Any) -> dict[str, Any]:
    rows = list(await session.scalars(select(TaskView).where(condition, TaskView.deleted.is_(False)).limit(LIST_LIMIT)))
    items = []
    for row in rows:
        content = {"title": row.title, "status": row.status, "owner_id": row.owner_id, "deal_id": _str(row.deal_id)}
        # The tasks service lets every reader of a task's deal read the task, so CRM does too.
        if await _deal_readable(session, guard, row.deal_id):
            items.append({"id": str(row.id), "type": "task", "status": "ok", "record": content})
        else:
            items.append(_projected_ref(guard.user, "task", row, content))
    return {"count": await _count(session, TaskView, condition), "items": items}


async def _deal_readable(session: AsyncSession, guard: Guard, deal_id: uuid.UUID | None) -> bool:
    deal = await session.get(Deal, deal_id) if deal_id is not None else None
    return deal is not None and (await guard.decide(session, "deal", "read", deal)).allowed


async def _document_section(session: AsyncSession, guard: Guard, condition: Any) -> dict[str, Any]:
    query = select(DocumentView).where(condition, DocumentView.deleted.is_(False)).limit(LIST_LIMIT)
    rows = list(await session.scalars(query))
    items = [
        _projected_ref(guard.user, "document", row, {"kind": row.kind, "title": row.title, "number": row.number})
        for row in rows
    ]
    return {"count": await _count(session, DocumentView, condition), "items": items}


async def _file_section(session: AsyncSession, guard: Guard, condition: Any) -> dict[str, Any]:
    rows = list(await session.scalars(select(FileView).where(condition, FileView.deleted.is_(False)).limit(LIST_LIMIT)))
    items = [_projected_ref(guard.user, "file", row, {"file_name": row.file_name, "size": row.size}) for row in rows]
    return {"count": await _count(session, FileView, condition), "items": items}


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


async def board(
    session: AsyncSession, guard: Guard, pipeline: Pipeline, *, owner_id: str | None, marker: str | None
) -> dict[str, Any]:
    """Return the pipeline's readable deals by stage, with counts, sums per currency and marker counts."""
    stages = list(await session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position)))
    query = select(Deal).where(Deal.pipeline_id == pipeline.id, Deal.deleted.is_(False))
    if owner_id is not None:
        query = query.where(Deal.owner_id == owner_id)
    by_stage: dict[uuid.UUID, list[Deal]] = defaultdict(list)
    for deal in await session.scalars(query.order_by(Deal.created_at.desc())):
        kinds = {item["kind"] for item in deal.markers}
        if marker is not None and marker not in kinds:
            continue
        if (await guard.decide(session, "deal", "read", deal)).allowed:
            by_stage[deal.stage_id].append(deal)

    columns = []
    for stage in stages:
        deals = by_stage.get(stage.id, [])
        sums: dict[str, Decimal] = defaultdict(Decimal)
        markers: Counter[str] = Counter()
        for deal in deals:
            if deal.amount is not None and deal.currency:
                sums[deal.currency] += deal.amount
            markers.update(item["kind"] for item in deal.markers)
        contacts = [await deal_context(session, deal) for deal in deals[:LIST_LIMIT]]
        columns.append(
            {
                "id": str(stage.id),
                "name": stage.name,
                "semantics": stage.semantics,
                "count": len(deals),
                "sums": {currency: str(total) for currency, total in sorted(sums.items())},
                "markers": dict(sorted(markers.items())),
                "deals": [deal_state(c.deal, stage, c.contact_ids).model_dump(mode="json") for c in contacts],
            }
        )
    return {"pipeline": {"id": str(pipeline.id), "key": pipeline.key, "name": pipeline.name}, "stages": columns}
