"""Access rules for tasks, and how linked CRM records appear to a user who may not read them.

A user may see a task when they are an admin, its creator, owner or observer, a member of its workgroup,
or may read its deal as CRM decides (see :func:`domain.may_read_record`). ``visible_tasks`` states the same
rules in SQL for lists and counters, and must change together with :func:`domain.visibility_grant`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import Principal
from servicekit.errors import PermissionDenied
from services.tasks import domain
from services.tasks.errors import TaskDeleted, TaskNotFound, TaskRestricted
from services.tasks.tables import CompanyReference, ContactReference, DealReference, Task, TaskObserver

TASK_RESTRICTED_REASON = (
    "you are not the task's creator, owner or observer, not a member of its workgroup, and may not read its deal"
)
RECORD_RESTRICTED_REASON = (
    "you are neither its owner nor a member of its department, and of its workgroup when it has one"
)


def may_read_deal(user: Principal, deal: DealReference | None) -> bool:
    return (
        deal is not None
        and not deal.deleted
        and domain.may_read_record(user, deal.owner_id, deal.department, deal.workgroup)
    )


def may_read_company(user: Principal, company: CompanyReference) -> bool:
    return domain.may_read_record(user, company.owner_id, company.department, company.workgroup)


def may_read_contact(user: Principal, contact: ContactReference, company: CompanyReference | None) -> bool:
    """Return whether ``user`` may read a contact: through its own owner or department, or through its company."""
    return domain.may_read_record(user, contact.owner_id, contact.department, None) or (
        company is not None and not company.deleted and may_read_company(user, company)
    )


def link_restriction(kind: str, record_id: uuid.UUID, owner_id: str | None) -> PermissionDenied:
    """Return the 403 error for linking a deal, company or contact that the user may not read."""
    return PermissionDenied(
        f"{kind} {record_id} is restricted; ask its owner for access",
        id=str(record_id),
        status="restricted",
        reason=f"{kind}: " + RECORD_RESTRICTED_REASON,
        owner=owner_id,
        field=f"client.{kind}_id",
    )


async def load_task_for(
    session: AsyncSession, user: Principal, task_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Task, list[str]]:
    """Load a task that ``user`` may see, with its observers; raise not found, deleted or restricted otherwise."""
    query = select(Task).where(Task.id == task_id)
    if for_update:
        query = query.with_for_update()
    task = await session.scalar(query)
    if task is None:
        raise TaskNotFound(f"task {task_id} not found", id=str(task_id), status="not_found")
    observers = list(
        await session.scalars(
            select(TaskObserver.user_id).where(TaskObserver.task_id == task.id).order_by(TaskObserver.user_id)
        )
    )
    deal = await session.get(DealReference, task.deal_id) if task.deal_id is not None else None
    audience = domain.TaskAudience(
        creator_id=task.creator_id,
        owner_id=task.owner_id,
        observer_ids=frozenset(observers),
        workgroup=task.workgroup,
        deal_readable=may_read_deal(user, deal),
    )
    if domain.visibility_grant(user, audience) is None:
        raise TaskRestricted(
            f"task {task_id} is restricted; ask its owner {task.owner_id} for access",
            id=str(task_id),
            status="restricted",
            reason=TASK_RESTRICTED_REASON,
            owner=task.owner_id,
        )
    # Checked after access, so only those who could see the task learn that it was deleted.
    if task.deleted:
        raise TaskDeleted(f"task {task_id} was deleted", id=str(task_id), status="deleted")
    return task, observers


def visible_tasks(user: Principal) -> ColumnElement[bool]:
    """Return the SQL condition for the tasks ``user`` may see; the same rules as :func:`load_task_for`."""
    if user.is_admin:
        return true()
    conditions: list[ColumnElement[bool]] = [
        Task.creator_id == user.user_id,
        Task.owner_id == user.user_id,
        exists(
            select(TaskObserver.task_id).where(TaskObserver.task_id == Task.id, TaskObserver.user_id == user.user_id)
        ),
    ]
    if user.workgroups:
        conditions.append(Task.workgroup.in_(user.workgroups))

    # The SQL form of domain.may_read_record: the deal's owner, or its department, narrowed to the
    # members of the deal's workgroup when it has one.
    deal_readers: list[ColumnElement[bool]] = [DealReference.owner_id == user.user_id]
    if user.department:
        member: ColumnElement[bool] = DealReference.workgroup.is_(None)
        if user.workgroups:
            member = or_(member, DealReference.workgroup.in_(user.workgroups))
        deal_readers.append(and_(DealReference.department == user.department, member))
    conditions.append(
        exists(
            select(DealReference.deal_id).where(
                DealReference.deal_id == Task.deal_id,
                DealReference.deleted.is_(False),
                or_(*deal_readers),
            )
        )
    )
    return or_(*conditions)


# --- linked records as references ---------------------------------------------------------------------


def _reference(
    record_id: uuid.UUID,
    record: DealReference | CompanyReference | ContactReference | None,
    readable: bool,
    content: dict[str, Any],
) -> dict[str, Any]:
    if record is None:
        return {"id": str(record_id), "status": "not_found"}
    if record.deleted:
        return {"id": str(record_id), "status": "deleted"}
    if not readable:
        return {
            "id": str(record_id),
            "status": "restricted",
            "reason": RECORD_RESTRICTED_REASON,
            "owner": record.owner_id,
        }
    return {"id": str(record_id), "status": "available", **content}


async def client_references(session: AsyncSession, user: Principal, task: Task) -> dict[str, Any]:
    """Return the task's deal, company, contact and project as references that hide what ``user`` may not read."""
    view: dict[str, Any] = {"deal": None, "company": None, "contact": None, "project": None}
    readable_parents: list[bool] = []

    if task.deal_id is not None:
        deal = await session.get(DealReference, task.deal_id)
        readable = deal is not None and domain.may_read_record(user, deal.owner_id, deal.department, deal.workgroup)
        content = {"title": deal.title, "stage_name": deal.stage_name} if deal is not None else {}
        view["deal"] = _reference(task.deal_id, deal, readable, content)
        readable_parents.append(view["deal"]["status"] == "available")

    company: CompanyReference | None = None
    if task.company_id is not None:
        company = await session.get(CompanyReference, task.company_id)
        readable = company is not None and may_read_company(user, company)
        view["company"] = _reference(task.company_id, company, readable, {"name": company.name} if company else {})
        readable_parents.append(view["company"]["status"] == "available")

    if task.contact_id is not None:
        contact = await session.get(ContactReference, task.contact_id)
        readable = contact is not None and may_read_contact(user, contact, company)
        view["contact"] = _reference(task.contact_id, contact, readable, {"name": contact.name} if contact else {})
        readable_parents.append(view["contact"]["status"] == "available")

    if task.project_id is not None:
        # No project projection exists, so a project shows only its id, and only through a readable parent.
        if any(readable_parents):
            view["project"] = {"id": str(task.project_id), "status": "available"}
        else:
            view["project"] = {"id": str(task.project_id), "status": "restricted", "reason": RECORD_RESTRICTED_REASON}
    return view
