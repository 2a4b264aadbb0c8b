"""Commands that the HTTP API accepts: create, edit, and the status actions of a task."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.tasks import ClientReference, TaskResult


class ClientInput(BaseModel):
    """The client a new task works for; with only ``deal_id`` the rest comes from the deal."""

    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None

    def to_reference(self) -> ClientReference:
        return ClientReference(**self.model_dump())


class CreateTask(BaseModel):
    """Create a task; the creator is the caller and the owner defaults to the caller."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: str | None = Field(default=None, min_length=1, max_length=255, description="Defaults to the caller.")
    observer_ids: list[str] = Field(default_factory=list, max_length=100)
    workgroup: str | None = Field(default=None, min_length=1, max_length=255)
    due_at: AwareDatetime | None = None
    expected_result: str | None = Field(default=None, max_length=20_000)
    client: ClientInput = Field(default_factory=ClientInput)
    visible_to_client: bool = False
    result_required: bool | None = Field(
        default=None, description="Completing needs a result; defaults to true for a task from a deal."
    )


class UpdateTask(BaseModel):
    """Change some fields of a task; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: str | None = Field(default=None, min_length=1, max_length=255)
    observer_ids: list[str] | None = Field(default=None, max_length=100)
    workgroup: str | None = Field(default=None, min_length=1, max_length=255)
    due_at: AwareDatetime | None = None
    expected_result: str | None = Field(default=None, max_length=20_000)
    visible_to_client: bool | None = None
    result_required: bool | None = None


class CompleteTask(BaseModel):
    """Mark a task done; it then waits for its creator to accept or return it."""

    model_config = ConfigDict(extra="forbid")

    result: TaskResult | None = None


class ReturnTask(BaseModel):
    """Send a done task back to its owner with the reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=5_000)
