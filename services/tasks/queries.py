"""Read side of the tasks service: the task view a user gets, lists, counters and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tasks import TaskResult, TaskStatus
from servicekit.auth import Principal
from servicekit.db import utcnow
from services.tasks import domain
from services.tasks.access import client_references, visible_tasks
from services.tasks.tables import Task, TaskHistoryEntry, TaskObserver


class TaskView(BaseModel):
    """A task as one user sees it: linked records they may not read are restricted references."""

    id: uuid.UUID
    version: int
    title: str
    description: str | None
    creator_id: str
    owner_id: str
    observer_ids: list[str]
    workgroup: str | None
    department: str | None
    due_at: datetime | None
    expected_result: str | None
    status: TaskStatus
    return_reason: str | None
    result: TaskResult | None
    client: dict[str, dict[str, Any] | None] = Field(
        description="deal, company, contact and project, each null or a reference with a status: "
        "available (with its name), restricted (with the reason and the owner to ask), not_found or deleted."
    )
    visible_to_client: bool
    result_required: bool
    overdue: bool
    allowed_actions: list[str] = Field(description="Status actions this user may take now.")
    completed_at: datetime | None
    accepted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Counters(BaseModel):
    """Task counts for one client, deal or owner, over the tasks the user may see."""

    open: int = Field(description="Neither accepted nor cancelled.")
    overdue: int = Field(
        description="Past their due time while the owner still owes the work (new, in progress, returned)."
    )
    waiting_for_acceptance: int = Field(description="Done and waiting for the creator to accept or return them.")


def is_overdue(task: Task, now: datetime) -> bool:
    return task.due_at is not None and task.due_at < now and task.status in domain.PENDING_STATUSES


async def task_view(session: AsyncSession, user: Principal, task: Task, observers: list[str] | None = None) -> TaskView:
    """Build the view of ``task`` that ``user`` gets.

    NOTE: each view reads its observers and up to three references, so a page of 200 tasks makes several
    hundred small queries; batch them if list latency matters.
    """
    if observers is None:
        observers = list(
            await session.scalars(
                select(TaskObserver.user_id).where(TaskObserver.task_id == task.id).order_by(TaskObserver.user_id)
            )
        )
    status = cast(TaskStatus, task.status)
    roles = domain.roles_of(user, task.creator_id, task.owner_id)
    actions = [action for action in domain.allowed_actions(status) if roles & domain.ACTION_ROLES[action]]
    return TaskView(
        id=task.id,
        version=task.version,
        title=task.title,
        description=task.description,
        creator_id=task.creator_id,
        owner_id=task.owner_id,
        observer_ids=observers,
        workgroup=task.workgroup,
        department=task.department,
        due_at=task.due_at,
        expected_result=task.expected_result,
        status=status,
        return_reason=task.return_reason,
        result=TaskResult.model_validate(task.result) if task.result else None,
        client=await client_references(session, user, task),
        visible_to_client=task.visible_to_client,
        result_required=task.result_required,
        overdue=is_overdue(task, utcnow()),
        allowed_actions=list(actions),
        completed_at=task.completed_at,
        accepted_at=task.accepted_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def task_filter(
    *,
    company_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    owner_id: str | None = None,
) -> list[ColumnElement[bool]]:
    """Return the SQL conditions that select one client's, deal's or owner's tasks."""
    conditions: list[ColumnElement[bool]] = [Task.deleted.is_(False)]
    if company_id is not None:
        conditions.append(Task.company_id == company_id)
    if contact_id is not None:
        conditions.append(Task.contact_id == contact_id)
    if deal_id is not None:
        conditions.append(Task.deal_id == deal_id)
    if owner_id is not None:
        conditions.append(Task.owner_id == owner_id)
    return conditions


async def list_tasks(
    session: AsyncSession,
    user: Principal,
    conditions: list[ColumnElement[bool]],
    *,
    statuses: list[str] | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Task]]:
    """Return the number of matching tasks ``user`` may see and one page of them, the soonest due first."""
    now = utcnow()
    where = [*conditions, visible_tasks(user)]
    if statuses:
        where.append(Task.status.in_(statuses))
    if overdue is not None:
        condition = _overdue(now)
        where.append(condition if overdue else ~condition)

    total = await session.scalar(select(func.count()).select_from(Task).where(*where))
    page = await session.scalars(
        select(Task)
        .where(*where)
        .order_by(Task.due_at.asc().nulls_last(), Task.created_at.desc(), Task.id)
        .limit(limit)
        .offset(offset)
    )
    return int(total or 0), list(page)


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(Task.due_at.is_not(None), Task.due_at < now, Task.status.in_(domain.PENDING_STATUSES))


async def count_tasks(session: AsyncSession, user: Principal, conditions: list[ColumnElement[bool]]) -> Counters:
    """Count open, overdue and waiting tasks among those matching ``conditions`` that ``user`` may see."""
    query = select(
        func.count().filter(Task.status.in_(domain.OPEN_STATUSES)),
        func.count().filter(_overdue(utcnow())),
        func.count().filter(Task.status == domain.WAITING_STATUS),
    ).where(*conditions, visible_tasks(user))
    open_count, overdue_count, waiting_count = (await session.execute(query)).one()
    return Counters(open=open_count, overdue=overdue_count, waiting_for_acceptance=waiting_count)


async def task_history(session: AsyncSession, task_id: uuid.UUID) -> list[dict[str, Any]]:
    """Return the task's history entries, oldest first."""
    entries = await session.scalars(
        select(TaskHistoryEntry).where(TaskHistoryEntry.task_id == task_id).order_by(TaskHistoryEntry.id)
    )
    return [
        {
            "version": entry.version,
            "occurred_at": entry.occurred_at,
            "actor": {"type": entry.actor_type, "id": entry.actor_id},
            "kind": entry.kind,
            "changed": entry.changed,
            "summary": entry.summary,
            "details": entry.details,
        }
        for entry in entries
    ]
