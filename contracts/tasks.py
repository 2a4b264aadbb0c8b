"""Events of the tasks service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from contracts.envelope import Event

TaskStatus = Literal["new", "in_progress", "done", "accepted", "returned", "cancelled"]


class ClientReference(BaseModel):
    """The client a task works for: a company or a contact, with an optional project and deal."""

    company_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None


class TaskResult(BaseModel):
    """What the owner reported when completing a task."""

    text: str
    file_ids: list[uuid.UUID] = Field(default_factory=list, description="Files in the documents service.")
    public_text: str | None = Field(default=None, description="Result text the client may see in the portal.")


class TaskState(BaseModel):
    """Full state of a task."""

    id: uuid.UUID
    title: str
    description: str | None = None
    creator_id: str
    owner_id: str
    observer_ids: list[str] = Field(default_factory=list)
    workgroup: str | None = None
    department: str | None = Field(default=None, description="Department of the owner, for access.")
    due_at: datetime | None = None
    expected_result: str | None = None
    status: TaskStatus = "new"
    return_reason: str | None = None
    result: TaskResult | None = None
    client: ClientReference = Field(default_factory=ClientReference)
    visible_to_client: bool = Field(default=False, description="Shown to the client in the portal.")
    result_required: bool = Field(default=True, description="Completing requires a result (tasks from deals).")
    completed_at: datetime | None = None
    accepted_at: datetime | None = None
    deleted: bool = False
    created_at: datetime | None = Field(default=None, description="When the task was created, in UTC.")
    updated_at: datetime | None = Field(
        default=None, description="When the task last changed, in UTC; the time of this event's change."
    )


class TaskChange(BaseModel):
    """A task's state and the names of the fields that changed."""

    task: TaskState
    changed: list[str] = Field(default_factory=list)


class TaskCreated(Event[TaskChange]):
    """A task was created."""

    event_type: Literal["tasks.task.created"] = "tasks.task.created"
    aggregate_type: Literal["task"] = "task"


class TaskUpdated(Event[TaskChange]):
    """A task's fields or status changed; ``data.changed`` names what."""

    event_type: Literal["tasks.task.updated"] = "tasks.task.updated"
    aggregate_type: Literal["task"] = "task"


TaskEvent = Annotated[TaskCreated | TaskUpdated, Field(discriminator="event_type")]
