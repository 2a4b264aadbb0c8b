"""Recording a change of a task: its version, its history entry and its event, in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Actor, ActorType
from contracts.tasks import (
    ClientReference,
    TaskChange,
    TaskCreated,
    TaskResult,
    TaskState,
    TaskStatus,
    TaskUpdated,
)
from contracts.topics import Topic
from servicekit.auth import Principal
from servicekit.db import utcnow
from servicekit.outbox import record_event
from servicekit.settings import ServiceSettings
from services.tasks.tables import Task, TaskHistoryEntry, TaskObserver


@dataclass(frozen=True)
class Cause:
    """Actor and correlation of a change, for the history entry and the event envelope."""

    actor: Actor
    correlation_id: str
    causation_id: uuid.UUID | None = None

    @classmethod
    def of_user(cls, user: Principal, correlation_id: str) -> Cause:
        return cls(Actor(type=ActorType.USER, id=user.user_id, name=user.name or None), correlation_id)


async def record_change(
    session: AsyncSession,
    settings: ServiceSettings,
    task: Task,
    cause: Cause,
    *,
    kind: str,
    changed: list[str],
    summary: str,
    details: dict[str, Any] | None = None,
    created: bool = False,
) -> TaskState:
    """Bump the task's version, add a history entry and record the task event, all in the caller's transaction."""
    now = utcnow()
    if not created:
        task.version += 1
        task.updated_at = now
    session.add(
        TaskHistoryEntry(
            task_id=task.id,
            version=task.version,
            occurred_at=now,
            actor_type=cause.actor.type.value,
            actor_id=cause.actor.id,
            kind=kind,
            changed=changed,
            summary=summary,
            details=details or {},
        )
    )
    await session.flush()

    state = await task_state(session, task)
    event_class = TaskCreated if created else TaskUpdated
    record_event(
        session,
        settings.topic(Topic.TASKS_TASKS),
        event_class(
            producer=settings.service_name,
            aggregate_id=task.id,
            aggregate_version=task.version,
            correlation_id=cause.correlation_id,
            causation_id=cause.causation_id,
            actor=cause.actor,
            data=TaskChange(task=state, changed=changed),
        ),
    )
    return state


async def task_state(session: AsyncSession, task: Task) -> TaskState:
    """Build the contract state of ``task``, with its observers read from the database."""
    observers = await session.scalars(
        select(TaskObserver.user_id).where(TaskObserver.task_id == task.id).order_by(TaskObserver.user_id)
    )
    return TaskState(
        id=task.id,
        title=task.title,
        description=task.description,
        creator_id=task.creator_id,
        owner_id=task.owner_id,
        observer_ids=list(observers),
        workgroup=task.workgroup,
        department=task.department,
        due_at=task.due_at,
        expected_result=task.expected_result,
        status=cast(TaskStatus, task.status),
        return_reason=task.return_reason,
        result=TaskResult.model_validate(task.result) if task.result else None,
        client=ClientReference(
            company_id=task.company_id, contact_id=task.contact_id, project_id=task.project_id, deal_id=task.deal_id
        ),
        visible_to_client=task.visible_to_client,
        result_required=task.result_required,
        completed_at=task.completed_at,
        accepted_at=task.accepted_at,
        deleted=task.deleted,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


async def set_observers(session: AsyncSession, task_id: uuid.UUID, observer_ids: list[str]) -> None:
    await session.execute(delete(TaskObserver).where(TaskObserver.task_id == task_id))
    session.add_all(TaskObserver(task_id=task_id, user_id=user_id) for user_id in sorted(set(observer_ids)))
    await session.flush()
