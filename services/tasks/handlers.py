"""Use cases of the tasks service: create, edit, move and delete tasks."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tasks import ClientReference, TaskState, TaskStatus
from servicekit.auth import Principal
from servicekit.db import utcnow
from servicekit.errors import Conflict, ValidationFailed
from servicekit.settings import ServiceSettings
from services.tasks import domain
from services.tasks.access import link_restriction, load_task_for, may_read_company, may_read_contact
from services.tasks.changes import Cause, record_change, set_observers
from services.tasks.commands import CompleteTask, CreateTask, ReturnTask, UpdateTask
from services.tasks.errors import (
    ActionNotAllowed,
    IdempotencyKeyReused,
    InvalidTransition,
    UnknownReference,
    VersionMismatch,
)
from services.tasks.tables import CompanyReference, ContactReference, DealReference, Task

logger = logging.getLogger(__name__)

RecordT = TypeVar("RecordT", DealReference, CompanyReference, ContactReference)


# --- creating and changing tasks -------------------------------------------------------------------


async def create_task(
    session: AsyncSession,
    settings: ServiceSettings,
    command: CreateTask,
    user: Principal,
    cause: Cause,
    *,
    request_key: str | None = None,
) -> tuple[Task, bool]:
    """Create a task with its client resolved from the projections; return it and whether it is new.

    A request repeated with the same ``request_key`` and body by the same creator returns the first task;
    the same key with another body is rejected.
    """
    fingerprint = request_fingerprint(command) if request_key is not None else None
    if request_key is not None:
        existing = await session.scalar(
            select(Task).where(Task.creator_id == user.user_id, Task.request_key == request_key)
        )
        if existing is not None:
            # Tasks created before fingerprints were stored have none and are taken as the same request.
            if existing.request_fingerprint not in (None, fingerprint):
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {request_key!r} was already used for task {existing.id} with another "
                    "request body; send a new key for a new task",
                    field="Idempotency-Key",
                    task_id=str(existing.id),
                )
            return existing, False

    client = await resolve_client(session, user, command.client.to_reference())
    result_required = command.result_required if command.result_required is not None else client.deal_id is not None
    now = utcnow()
    owner_id = command.owner_id or user.user_id
    task = Task(
        id=uuid.uuid4(),
        version=1,
        title=command.title,
        description=command.description,
        creator_id=user.user_id,
        owner_id=owner_id,
        workgroup=command.workgroup,
        # The token carries only the caller's department, so another owner's department stays unknown.
        department=user.department if owner_id == user.user_id else None,
        due_at=command.due_at,
        expected_result=command.expected_result,
        status="new",
        company_id=client.company_id,
        contact_id=client.contact_id,
        project_id=client.project_id,
        deal_id=client.deal_id,
        visible_to_client=command.visible_to_client,
        result_required=result_required,
        deleted=False,
        created_at=now,
        updated_at=now,
        request_key=request_key,
        request_fingerprint=fingerprint,
    )
    session.add(task)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Only the (creator, request key) pair is unique, so a concurrent request with the same key won.
        raise Conflict(
            f"a task with Idempotency-Key {request_key!r} is being created by another request; retry to get it",
            field="Idempotency-Key",
        ) from exc
    await set_observers(session, task.id, command.observer_ids)
    await record_change(
        session,
        settings,
        task,
        cause,
        kind="created",
        changed=sorted(TaskState.model_fields),
        summary=_creation_summary(client),
        details={"client": client.model_dump(mode="json")},
        created=True,
    )
    logger.info("task %s created for deal %s by %s", task.id, task.deal_id, user.user_id)
    return task, True


def request_fingerprint(command: CreateTask) -> str:
    """Return the SHA-256 of the create command's canonical JSON, with defaults filled in."""
    canonical = json.dumps(command.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_NOT_NULL_FIELDS = ("title", "owner_id", "visible_to_client", "result_required")


async def update_task(
    session: AsyncSession,
    settings: ServiceSettings,
    task_id: uuid.UUID,
    command: UpdateTask,
    *,
    user: Principal,
    cause: Cause,
    expected_version: int | None = None,
) -> Task:
    """Change the fields sent in ``command``; only the creator may turn the result requirement on or off."""
    task, observers = await load_task_for(session, user, task_id, for_update=True)
    _check_version(task, expected_version)
    roles = domain.roles_of(user, task.creator_id, task.owner_id)
    if not roles:
        raise ActionNotAllowed(
            f"only the creator or the owner of task {task_id} may edit it", task_id=str(task_id), owner=task.owner_id
        )
    if task.status not in domain.OPEN_STATUSES:
        raise InvalidTransition(
            f"cannot edit a task whose current status is {task.status!r}; it is closed",
            status=task.status,
            action="edit",
            allowed_actions=[],
        )

    sent = command.model_dump(include=command.model_fields_set)
    for name in _NOT_NULL_FIELDS:
        if name in sent and sent[name] is None:
            raise ValidationFailed(f"{name} cannot be null", field=name)
    if "result_required" in sent and not roles & {"creator", "admin"}:
        raise ActionNotAllowed(
            f"only the creator of task {task_id} may change result_required",
            field="result_required",
            creator=task.creator_id,
        )

    changed: list[str] = []
    new_observers = sent.pop("observer_ids", None)
    if new_observers is not None and sorted(set(new_observers)) != observers:
        await set_observers(session, task.id, new_observers)
        changed.append("observer_ids")
    for name, value in sent.items():
        if getattr(task, name) != value:
            setattr(task, name, value)
            changed.append(name)
    if "owner_id" in changed:
        department = user.department if task.owner_id == user.user_id else None
        if department != task.department:
            task.department = department
            changed.append("department")
    if not changed:
        return task

    await record_change(
        session,
        settings,
        task,
        cause,
        kind="updated",
        changed=sorted(changed),
        summary="Changed " + ", ".join(sorted(changed)),
    )
    return task


async def take_action(
    session: AsyncSession,
    settings: ServiceSettings,
    task_id: uuid.UUID,
    action: domain.TaskAction,
    *,
    user: Principal,
    cause: Cause,
    complete: CompleteTask | None = None,
    returned: ReturnTask | None = None,
    expected_version: int | None = None,
) -> Task:
    """Move a task through the status machine, checking the caller's role and, on completion, the result."""
    task, _ = await load_task_for(session, user, task_id, for_update=True)
    _check_version(task, expected_version)

    roles = domain.roles_of(user, task.creator_id, task.owner_id)
    if not roles & domain.ACTION_ROLES[action]:
        allowed = " or ".join(sorted(domain.ACTION_ROLES[action] - {"admin"}))
        raise ActionNotAllowed(
            f"only the {allowed} of task {task_id} may {action} it",
            task_id=str(task_id),
            action=action,
            owner=task.owner_id,
            creator=task.creator_id,
        )
    target = domain.next_status(cast(TaskStatus, task.status), action)
    changed = ["status", *_apply_action(task, action, complete, returned)]

    previous = task.status
    task.status = target
    details: dict[str, Any] = {"from": previous, "to": target}
    if action == "return":
        details["reason"] = task.return_reason
    await record_change(
        session,
        settings,
        task,
        cause,
        kind="status_changed",
        changed=sorted(set(changed)),
        summary=f"Status changed from {previous} to {target}"
        + (f": {task.return_reason}" if action == "return" else ""),
        details=details,
    )
    return task


def _apply_action(
    task: Task, action: domain.TaskAction, complete: CompleteTask | None, returned: ReturnTask | None
) -> list[str]:
    """Set the fields that ``action`` changes besides the status, and return their names."""
    changed: list[str] = []
    if action == "complete":
        result = complete.result if complete is not None else None
        domain.check_result(task.id, task.deal_id, task.result_required, result)
        task.result = result.model_dump(mode="json") if result is not None and domain.has_content(result) else None
        task.completed_at = utcnow()
        changed += ["result", "completed_at"]
    elif action == "accept":
        task.accepted_at = utcnow()
        changed.append("accepted_at")
    elif action == "return":
        task.return_reason = returned.reason if returned is not None else None
        changed.append("return_reason")

    # A reason belongs to the return it came with, so it goes once the owner works on the task again.
    if action in ("start", "complete") and task.return_reason is not None:
        task.return_reason = None
        changed.append("return_reason")
    return changed


async def delete_task(
    session: AsyncSession,
    settings: ServiceSettings,
    task_id: uuid.UUID,
    *,
    user: Principal,
    cause: Cause,
    expected_version: int | None = None,
) -> None:
    """Mark a task deleted; it leaves lists and counters, and its id then returns ``status: deleted``."""
    task, _ = await load_task_for(session, user, task_id, for_update=True)
    _check_version(task, expected_version)
    if not domain.roles_of(user, task.creator_id, task.owner_id) & {"creator", "admin"}:
        raise ActionNotAllowed(
            f"only the creator of task {task_id} may delete it", task_id=str(task_id), creator=task.creator_id
        )

    task.deleted = True
    await record_change(session, settings, task, cause, kind="deleted", changed=["deleted"], summary="Deleted")
    logger.info("task %s deleted by %s", task.id, user.user_id)


def _check_version(task: Task, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != task.version:
        raise VersionMismatch(
            f"task {task.id} is at version {task.version}, not {expected_version}; reload it and try again",
            current_version=task.version,
        )


# --- the client reference ---------------------------------------------------------------------------


async def resolve_client(session: AsyncSession, user: Principal, requested: ClientReference) -> ClientReference:
    """Fill a requested client reference from the projections; reject unknown, deleted, hidden or mismatched parts.

    The deal, company and contact sent must be readable by ``user``; those filled in from a deal need not be.
    """
    if requested.project_id is not None and not (requested.company_id or requested.contact_id or requested.deal_id):
        raise ValidationFailed(
            "a project needs its client: send client.company_id, client.contact_id or client.deal_id with it",
            field="client.project_id",
        )

    deal: domain.DealClient | None = None
    if requested.deal_id is not None:
        deal_reference = _require_known(await session.get(DealReference, requested.deal_id), "deal", requested.deal_id)
        if not domain.may_read_record(
            user, deal_reference.owner_id, deal_reference.department, deal_reference.workgroup
        ):
            raise link_restriction("deal", requested.deal_id, deal_reference.owner_id)
        deal = deal_client(deal_reference)

    company: CompanyReference | None = None
    if requested.company_id is not None:
        company = _require_known(
            await session.get(CompanyReference, requested.company_id), "company", requested.company_id
        )
        if not may_read_company(user, company):
            raise link_restriction("company", requested.company_id, company.owner_id)

    contact_company_id = None
    if requested.contact_id is not None:
        contact = _require_known(
            await session.get(ContactReference, requested.contact_id), "contact", requested.contact_id
        )
        contact_company_id = contact.company_id
        parent = company or (await session.get(CompanyReference, contact.company_id) if contact.company_id else None)
        if not may_read_contact(user, contact, parent):
            raise link_restriction("contact", requested.contact_id, contact.owner_id)

    return domain.resolve_client(requested, deal=deal, contact_company_id=contact_company_id)


def _require_known(reference: RecordT | None, kind: str, record_id: uuid.UUID) -> RecordT:
    if reference is None:
        raise UnknownReference(
            f"unknown {kind} {record_id}: the tasks service has not received it from CRM; "
            f"check the id, or retry in a few seconds if the {kind} was just created",
            code=f"unknown_{kind}",
            field=f"client.{kind}_id",
            id=str(record_id),
        )
    if reference.deleted:
        raise UnknownReference(
            f"{kind} {record_id} was deleted in CRM",
            code=f"deleted_{kind}",
            field=f"client.{kind}_id",
            id=str(record_id),
            status="deleted",
        )
    return reference


def deal_client(reference: DealReference) -> domain.DealClient:
    return domain.DealClient(
        deal_id=reference.deal_id,
        company_id=reference.company_id,
        primary_contact_id=reference.primary_contact_id,
        contact_ids=frozenset(uuid.UUID(value) for value in reference.contact_ids or []),
        project_id=reference.project_id,
    )


def _creation_summary(client: ClientReference) -> str:
    parts = [
        f"{kind} {value}"
        for kind, value in (
            ("deal", client.deal_id),
            ("company", client.company_id),
            ("contact", client.contact_id),
            ("project", client.project_id),
        )
        if value is not None
    ]
    return "Created" + (" for " + ", ".join(parts) if parts else "")
