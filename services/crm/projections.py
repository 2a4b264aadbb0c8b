"""Projections of tasks, documents and files, and the closed loop from a task's result back to its deal.

The consumers run under the service's inbox with a projection name, so a duplicate or an event older
than the stored version is skipped before these functions run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.documents import DocumentCreated, DocumentUpdated, FileCreated, FileUpdated
from contracts.envelope import Actor
from contracts.tasks import TaskCreated, TaskState, TaskUpdated
from servicekit.db import utcnow
from servicekit.settings import ServiceSettings
from services.crm.common import Origin
from services.crm.handlers import add_timeline, deal_context, refresh_markers, save_change
from services.crm.tables import Deal, DocumentView, FileView, Stage, TaskView

logger = logging.getLogger(__name__)

FINISHED = ("done", "accepted")


async def apply_task(session: AsyncSession, settings: ServiceSettings, event: TaskCreated | TaskUpdated) -> None:
    """Store the task's state and update the markers and timeline of the deals it is or was linked to."""
    task = event.data.task
    view = await session.get(TaskView, task.id)
    previous_status = view.status if view is not None else None
    previous_deal = view.deal_id if view is not None else None
    if view is None:
        view = TaskView(id=task.id)
        session.add(view)
    view.title = task.title[:1000]
    view.status = task.status
    view.owner_id = task.owner_id
    view.department = task.department
    view.workgroup = task.workgroup
    view.company_id = task.client.company_id
    view.contact_id = task.client.contact_id
    view.project_id = task.client.project_id
    view.deal_id = task.client.deal_id
    view.due_at = task.due_at
    view.result_text = task.result.text if task.result is not None else None
    view.completed_at = task.completed_at
    view.accepted_at = task.accepted_at
    view.deleted = task.deleted
    await session.flush()

    for deal_id in dict.fromkeys(d for d in (previous_deal, task.client.deal_id) if d is not None):
        finished_now = deal_id == task.client.deal_id and task.status in FINISHED and previous_status != task.status
        await _update_deal_for_task(session, settings, deal_id, task, event, finished_now=finished_now)


async def _update_deal_for_task(
    session: AsyncSession,
    settings: ServiceSettings,
    deal_id: uuid.UUID,
    task: TaskState,
    event: TaskCreated | TaskUpdated,
    *,
    finished_now: bool,
) -> None:
    deal = await session.scalar(select(Deal).where(Deal.id == deal_id).with_for_update())
    if deal is None:
        logger.info("task %s links to deal %s, which CRM does not have", task.id, deal_id)
        return
    ctx = await deal_context(session, deal)
    origin = Origin(
        actor=event.actor if event.actor else Actor.system(settings.service_name),
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        cause={"type": "task", "id": str(task.id), "name": task.title},
    )
    changed: list[str] = []
    if finished_now and not deal.deleted:
        finished_at = _finished_at(task, event.occurred_at)
        add_timeline(
            session,
            deal.id,
            "task_result",
            origin,
            {
                "task_id": str(task.id),
                "title": task.title,
                "status": task.status,
                "result": task.result.text if task.result is not None else None,
                "file_ids": [str(i) for i in task.result.file_ids] if task.result is not None else [],
                "finished_at": finished_at.isoformat(),
            },
            link={"service": "tasks", "path": f"/tasks/{task.id}"},
        )
        changed.append("timeline")
        if finished_at > deal.touched_at:
            deal.attention_task_id = task.id
            deal.attention_since = finished_at

    if await refresh_markers(session, deal, ctx.stage, utcnow()):
        changed.append("markers")
    if changed:
        await save_change(session, settings, ctx, origin, changed, touched=False)


def _finished_at(task: TaskState, fallback: datetime) -> datetime:
    moment = task.accepted_at if task.status == "accepted" else task.completed_at
    return moment or task.completed_at or fallback


async def apply_document(
    session: AsyncSession, _settings: ServiceSettings, event: DocumentCreated | DocumentUpdated
) -> None:
    """Store the fields of a document that CRM shows and counts."""
    document = event.data.document
    view = await session.get(DocumentView, document.id) or DocumentView(id=document.id)
    view.kind = document.kind
    view.title = document.title[:1000]
    view.number = document.number
    view.company_id = document.company_id
    view.deal_id = document.deal_id
    view.project_id = document.project_id
    view.owner_id = document.owner_id
    view.department = document.department
    view.workgroup = document.workgroup
    view.deleted = document.deleted
    session.add(view)


async def apply_file(session: AsyncSession, _settings: ServiceSettings, event: FileCreated | FileUpdated) -> None:
    """Store the fields of a plain client file that CRM shows and counts."""
    file = event.data
    view = await session.get(FileView, file.id) or FileView(id=file.id)
    view.file_name = file.file_name[:1000]
    view.size = file.size
    view.company_id = file.company_id
    view.deal_id = file.deal_id
    view.project_id = file.project_id
    view.owner_id = file.owner_id
    view.department = file.department
    view.deleted = file.deleted
    session.add(view)


async def refresh_open_deal_markers(
    sessionmaker: async_sessionmaker[AsyncSession], settings: ServiceSettings, now: datetime | None = None
) -> int:
    """Recompute the markers of every open deal, each in its own transaction; return how many changed."""
    async with sessionmaker() as session:
        deal_ids = list(
            await session.scalars(
                select(Deal.id)
                .join(Stage, Stage.id == Deal.stage_id)
                .where(Deal.deleted.is_(False), Stage.semantics == "in_progress")
            )
        )
    changed = 0
    origin = Origin(
        actor=Actor.system(settings.service_name),
        correlation_id=f"markers-{uuid.uuid4()}",
        cause={"type": "system", "id": "markers", "name": "marker refresh"},
    )
    for deal_id in deal_ids:
        async with sessionmaker() as session, session.begin():
            deal = await session.scalar(select(Deal).where(Deal.id == deal_id).with_for_update())
            if deal is None:
                continue
            ctx = await deal_context(session, deal)
            moment = now or utcnow()
            if await refresh_markers(session, deal, ctx.stage, moment):
                await save_change(session, settings, ctx, origin, ["markers"], touched=False, now=moment)
                changed += 1
    return changed


def marker_refresh_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: ServiceSettings,
    interval: float,
    notify: Callable[[], None],
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Build the background job that keeps the time-based markers current."""

    async def run(stop: asyncio.Event) -> None:
        logger.info("marker refresh started, every %.0f s", interval)
        while not stop.is_set():
            try:
                if await refresh_open_deal_markers(sessionmaker, settings):
                    notify()
            except Exception:
                # The job must outlive a failed round (a restarting database, say); the next round retries.
                logger.exception("marker refresh failed; retrying in %.0f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        logger.info("marker refresh stopped")

    return run
