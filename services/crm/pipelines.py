"""Use cases of pipeline configuration: stages with semantics and rules, and typed custom fields."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.errors import Conflict
from services.crm.common import invalid
from services.crm.rules import ExitCondition, FieldSpec, FieldType, exit_value, unknown_rule_fields
from services.crm.tables import Pipeline, PipelineField, Stage


class FieldSpecIn(BaseModel):
    """A typed custom field of a pipeline's deals."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,99}$", description="Key in the deal's custom_fields.")
    name: str = Field(min_length=1, max_length=255)
    type: FieldType
    options: list[str] = Field(default_factory=list, max_length=200, description="Values of a choice field.")

    @model_validator(mode="after")
    def _choice_needs_options(self) -> FieldSpecIn:
        if self.type == "choice" and not self.options:
            raise ValueError("a choice field needs options")
        return self


class StageRules(BaseModel):
    """Rules of a stage: fields required to enter it, conditions to leave it, and days before it is stale."""

    required_fields: list[str] = Field(default_factory=list, max_length=50)
    exit_conditions: list[ExitCondition] = Field(default_factory=list, max_length=50)
    max_days: int | None = Field(default=None, ge=1, le=3650)


class StageIn(StageRules):
    name: str = Field(min_length=1, max_length=255)
    semantics: Literal["in_progress", "won", "lost"] = "in_progress"


class CreatePipeline(BaseModel):
    """Create a pipeline with its ordered stages and custom fields."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_\-]{0,99}$")
    name: str = Field(min_length=1, max_length=255)
    stages: list[StageIn] = Field(min_length=1, max_length=50)
    fields: list[FieldSpecIn] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _unique_names(self) -> CreatePipeline:
        if len({stage.name for stage in self.stages}) != len(self.stages):
            raise ValueError("stage names must be unique within a pipeline")
        if len({item.key for item in self.fields}) != len(self.fields):
            raise ValueError("custom field keys must be unique within a pipeline")
        return self


async def pipeline_view(session: AsyncSession, pipeline: Pipeline) -> dict[str, Any]:
    stages = await session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position))
    fields = await session.scalars(
        select(PipelineField).where(PipelineField.pipeline_id == pipeline.id).order_by(PipelineField.position)
    )
    return {
        "id": str(pipeline.id),
        "key": pipeline.key,
        "name": pipeline.name,
        "stages": [
            {
                "id": str(stage.id),
                "name": stage.name,
                "position": stage.position,
                "semantics": stage.semantics,
                "required_fields": stage.required_fields,
                "exit_conditions": stage.exit_conditions,
                "max_days": stage.max_days,
            }
            for stage in stages
        ],
        "fields": [{"key": f.key, "name": f.name, "type": f.type, "options": f.options} for f in fields],
    }


def _checked_rules(rules: StageRules, specs: dict[str, FieldSpec], prefix: str) -> list[dict[str, Any]]:
    """Check that the rules name existing fields and that each ``equals`` can match.

    Return the exit conditions with each ``equals`` in the form that is stored and compared.
    """
    keys = rules.required_fields + [condition.field for condition in rules.exit_conditions]
    unknown = unknown_rule_fields(keys, set(specs))
    if unknown:
        reason = "{!r} is neither a deal field nor a custom field of the pipeline"
        raise invalid(*((prefix or "body", reason.format(key)) for key in unknown))

    conditions: list[dict[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for i, condition in enumerate(rules.exit_conditions):
        stored = condition.model_dump(mode="json", exclude_none=True)
        if condition.equals is not None:
            try:
                stored["equals"] = exit_value(condition.field, condition.equals, specs)
            except ValueError as exc:
                name = f"{prefix}.exit_conditions.{i}.equals" if prefix else f"exit_conditions.{i}.equals"
                errors.append((name, f"{exc} (field {condition.field!r})"))
        conditions.append(stored)
    if errors:
        raise invalid(*errors)
    return conditions


async def create_pipeline(session: AsyncSession, command: CreatePipeline) -> Pipeline:
    """Create a pipeline; every field a stage rule names must exist."""
    if await session.scalar(select(Pipeline.id).where(Pipeline.key == command.key)) is not None:
        raise Conflict(f"pipeline {command.key!r} already exists", field="key")
    specs = {item.key: FieldSpec(item.key, item.type, tuple(item.options)) for item in command.fields}
    exit_conditions = [_checked_rules(stage, specs, f"stages.{i}") for i, stage in enumerate(command.stages)]

    pipeline = Pipeline(id=uuid.uuid4(), key=command.key, name=command.name)
    session.add(pipeline)
    await session.flush()
    for i, stage in enumerate(command.stages):
        values = {**stage.model_dump(mode="json"), "exit_conditions": exit_conditions[i]}
        session.add(Stage(id=uuid.uuid4(), pipeline_id=pipeline.id, position=i, **values))
    for i, item in enumerate(command.fields):
        session.add(PipelineField(id=uuid.uuid4(), pipeline_id=pipeline.id, position=i, **item.model_dump()))
    await session.flush()
    return pipeline


async def add_field(session: AsyncSession, pipeline: Pipeline, command: FieldSpecIn) -> None:
    """Add a custom field to a pipeline."""
    keys = set(await session.scalars(select(PipelineField.key).where(PipelineField.pipeline_id == pipeline.id)))
    if command.key in keys:
        raise Conflict(f"pipeline {pipeline.key!r} already has a field {command.key!r}", field="key")
    session.add(PipelineField(id=uuid.uuid4(), pipeline_id=pipeline.id, position=len(keys), **command.model_dump()))
    await session.flush()


async def set_stage_rules(session: AsyncSession, pipeline: Pipeline, stage: Stage, command: StageRules) -> None:
    """Replace a stage's rules."""
    rows = await session.scalars(select(PipelineField).where(PipelineField.pipeline_id == pipeline.id))
    specs = {row.key: FieldSpec(row.key, row.type, tuple(row.options)) for row in rows}
    exit_conditions = _checked_rules(command, specs, "")
    stage.required_fields = list(command.required_fields)
    stage.exit_conditions = exit_conditions
    stage.max_days = command.max_days
    await session.flush()
