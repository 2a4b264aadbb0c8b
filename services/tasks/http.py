"""HTTP routes of the tasks service: entrypoints that turn requests into use cases and views."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.auth import CurrentUser, Principal
from servicekit.errors import ValidationFailed
from servicekit.logs import correlation_id
from servicekit.service import ServiceRuntime
from services.tasks import domain
from services.tasks.access import load_task_for
from services.tasks.changes import Cause
from services.tasks.commands import CompleteTask, CreateTask, ReturnTask, UpdateTask
from services.tasks.handlers import create_task, delete_task, take_action, update_task
from services.tasks.queries import Counters, TaskView, count_tasks, list_tasks, task_filter, task_history, task_view
from services.tasks.tables import Task

router = APIRouter(tags=["tasks"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The task version the change is based on.")]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _cause(user: Principal) -> Cause:
    return Cause.of_user(user, correlation_id() or str(uuid.uuid4()))


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ValidationFailed(f'If-Match must be a task version such as "3", not {if_match!r}', field="If-Match")
    return int(value)


async def _view(session: AsyncSession, user: Principal, task: Task, response: Response) -> TaskView:
    response.headers["ETag"] = f'"{task.version}"'
    return await task_view(session, user, task)


@router.post("/tasks", status_code=201)
async def post_task(
    request: Request, *, response: Response, body: CreateTask, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> TaskView:
    """Create a task; with only ``client.deal_id`` the company, contact and project come from the deal."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        task, created = await create_task(
            session, runtime.settings, body, user, _cause(user), request_key=idempotency_key
        )
        if not created:
            response.status_code = 200
        view = await _view(session, user, task, response)
    runtime.relay.notify()
    return view


@router.get("/tasks/counters")
async def get_counters(
    request: Request,
    *,
    user: CurrentUser,
    company_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    owner_id: str | None = None,
) -> Counters:
    """Count open, overdue and waiting-for-acceptance tasks of a client, deal or owner that the user may see."""
    conditions = task_filter(company_id=company_id, contact_id=contact_id, deal_id=deal_id, owner_id=owner_id)
    async with _runtime(request).sessionmaker() as session:
        return await count_tasks(session, user, conditions)


@router.get("/tasks")
async def get_tasks(
    request: Request,
    *,
    user: CurrentUser,
    company_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    deal_id: uuid.UUID | None = None,
    owner_id: str | None = None,
    status: Annotated[list[domain.TaskStatusName] | None, Query()] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """List the tasks of a client, deal or owner that the user may see, the soonest due first."""
    conditions = task_filter(company_id=company_id, contact_id=contact_id, deal_id=deal_id, owner_id=owner_id)
    async with _runtime(request).sessionmaker() as session:
        total, tasks = await list_tasks(
            session, user, conditions, statuses=list(status or []), overdue=overdue, limit=limit, offset=offset
        )
        items = [await task_view(session, user, task) for task in tasks]
    return {"total": total, "items": items}


@router.get("/tasks/{task_id}")
async def get_task(request: Request, *, response: Response, task_id: uuid.UUID, user: CurrentUser) -> TaskView:
    """Return a task the user may see; 403 with ``status: restricted`` names the owner to ask otherwise."""
    async with _runtime(request).sessionmaker() as session:
        task, observers = await load_task_for(session, user, task_id)
        response.headers["ETag"] = f'"{task.version}"'
        return await task_view(session, user, task, observers)


@router.get("/tasks/{task_id}/history")
async def get_history(request: Request, *, task_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return the task's changes, oldest first, including the client changes that followed its deal."""
    async with _runtime(request).sessionmaker() as session:
        await load_task_for(session, user, task_id)
        return {"items": await task_history(session, task_id)}


@router.patch("/tasks/{task_id}")
async def patch_task(
    request: Request,
    *,
    response: Response,
    task_id: uuid.UUID,
    body: UpdateTask,
    user: CurrentUser,
    if_match: IfMatch = None,
) -> TaskView:
    """Change the fields sent; the creator or the owner may edit, only the creator may change result_required."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        task = await update_task(
            session,
            runtime.settings,
            task_id,
            body,
            user=user,
            cause=_cause(user),
            expected_version=_expected_version(if_match),
        )
        view = await _view(session, user, task, response)
    runtime.relay.notify()
    return view


async def _act(
    request: Request,
    *,
    response: Response,
    task_id: uuid.UUID,
    action: domain.TaskAction,
    user: Principal,
    if_match: str | None,
    **payload: Any,
) -> TaskView:
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        task = await take_action(
            session,
            runtime.settings,
            task_id,
            action,
            user=user,
            cause=_cause(user),
            expected_version=_expected_version(if_match),
            **payload,
        )
        view = await _view(session, user, task, response)
    runtime.relay.notify()
    return view


@router.post("/tasks/{task_id}/start")
async def start_task(
    request: Request, *, response: Response, task_id: uuid.UUID, user: CurrentUser, if_match: IfMatch = None
) -> TaskView:
    """Start work on a new or returned task; only its owner may."""
    return await _act(request, response=response, task_id=task_id, action="start", user=user, if_match=if_match)


@router.post("/tasks/{task_id}/complete")
async def complete_task(
    request: Request,
    *,
    response: Response,
    task_id: uuid.UUID,
    user: CurrentUser,
    body: CompleteTask | None = None,
    if_match: IfMatch = None,
) -> TaskView:
    """Mark the task done with its result; only its owner may, and a task that requires a result needs one."""
    return await _act(
        request, response=response, task_id=task_id, action="complete", user=user, if_match=if_match, complete=body
    )


@router.post("/tasks/{task_id}/accept")
async def accept_task(
    request: Request, *, response: Response, task_id: uuid.UUID, user: CurrentUser, if_match: IfMatch = None
) -> TaskView:
    """Accept a done task and its result; only its creator may."""
    return await _act(request, response=response, task_id=task_id, action="accept", user=user, if_match=if_match)


@router.post("/tasks/{task_id}/return")
async def return_task(
    request: Request,
    *,
    response: Response,
    task_id: uuid.UUID,
    body: ReturnTask,
    user: CurrentUser,
    if_match: IfMatch = None,
) -> TaskView:
    """Return a done task to its owner with the reason; only its creator may."""
    return await _act(
        request, response=response, task_id=task_id, action="return", user=user, if_match=if_match, returned=body
    )


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(
    request: Request, *, response: Response, task_id: uuid.UUID, user: CurrentUser, if_match: IfMatch = None
) -> TaskView:
    """Cancel a task that is not closed yet; only its creator may."""
    return await _act(request, response=response, task_id=task_id, action="cancel", user=user, if_match=if_match)


@router.delete("/tasks/{task_id}", status_code=204)
async def remove_task(request: Request, *, task_id: uuid.UUID, user: CurrentUser, if_match: IfMatch = None) -> None:
    """Delete a task; only its creator may. Its id then returns 410 with ``status: deleted``."""
    runtime = _runtime(request)
    async with runtime.sessionmaker() as session, session.begin():
        await delete_task(
            session,
            runtime.settings,
            task_id,
            user=user,
            cause=_cause(user),
            expected_version=_expected_version(if_match),
        )
    runtime.relay.notify()
