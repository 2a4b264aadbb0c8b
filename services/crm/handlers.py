"""Use cases of deals: create (by hand and from accepted inquiries), update, move, comment, snooze, delete.

Every change raises the deal's ``version`` by one, adds to its timeline, recomputes its markers and
records ``DealCreated`` or ``DealUpdated`` with the full state in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator
from pydantic_core import to_jsonable_python
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import DealChange, DealCreated, DealMarker, DealSource, DealState, DealUpdated, MarkerKind
from contracts.intake import RequestAccepted
from contracts.topics import Topic
from servicekit.db import utcnow
from servicekit.errors import NotFound, ValidationFailed
from servicekit.settings import ServiceSettings
from services.crm import boardlog  # noqa: F401 - registers the session events that write the board change log
from services.crm.common import Origin, invalid, record
from services.crm.links import LinkCheck, Warning, check_links
from services.crm.markers import DealFacts, compute_markers
from services.crm.rules import FieldSpec, missing_to_enter, unmet_exit_conditions, validate_custom_fields
from services.crm.tables import (
    Contact,
    Deal,
    DealComment,
    DealContact,
    MarkerSnooze,
    Pipeline,
    PipelineField,
    Stage,
    TaskView,
    TimelineEntry,
)

logger = logging.getLogger(__name__)

OPEN_TASK_STATUSES = ("new", "in_progress", "returned")


class DealLinks(BaseModel):
    """The records a deal links to; each is checked for consistency."""

    company_id: uuid.UUID | None = None
    contact_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    primary_contact_id: uuid.UUID | None = Field(default=None, description="One of contact_ids; the first if unset.")
    client_legal_entity_id: uuid.UUID | None = None
    our_legal_entity_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None


CENT = Decimal("0.01")


def _fixed_point(value: Decimal | None) -> Decimal | None:
    """Return an amount with two decimal places, as the database stores it: 1E+3 is 1000.00, -0 is 0.00."""
    if value is None:
        return None
    # Adding zero turns a negative zero into zero.
    return (value + 0).quantize(CENT)


Amount = Annotated[Decimal | None, Field(ge=0, max_digits=18, decimal_places=2), AfterValidator(_fixed_point)]


class CreateDeal(DealLinks):
    """Create a deal, by default in the first stage of the default pipeline."""

    title: str = Field(min_length=1, max_length=500)
    pipeline_key: str | None = Field(default=None, description="Pipeline key; the default pipeline when unset.")
    stage_id: uuid.UUID | None = Field(default=None, description="Stage of the pipeline; the first when unset.")
    amount: Amount = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    owner_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=255)
    workgroup: str | None = Field(default=None, max_length=255)
    contact_name: str | None = Field(default=None, max_length=500)
    contact_phone: str | None = Field(default=None, max_length=32)
    contact_email: str | None = Field(default=None, max_length=320)
    description: str | None = Field(default=None, max_length=20000)
    next_step: str | None = Field(default=None, max_length=1000)
    next_step_due_at: AwareDatetime | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class UpdateDeal(BaseModel):
    """Change a deal; only the fields sent change, and null clears a field."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    pipeline_id: uuid.UUID | None = Field(default=None, description="Move to another pipeline.")
    stage_id: uuid.UUID | None = Field(default=None, description="Stage to move to; the pipeline's first if unset.")
    amount: Amount = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    owner_id: str | None = Field(default=None, max_length=255)
    department: str | None = Field(default=None, max_length=255)
    workgroup: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=20000)
    next_step: str | None = Field(default=None, max_length=1000)
    next_step_due_at: AwareDatetime | None = None
    company_id: uuid.UUID | None = None
    contact_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    primary_contact_id: uuid.UUID | None = None
    client_legal_entity_id: uuid.UUID | None = None
    our_legal_entity_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    custom_fields: dict[str, Any] | None = Field(default=None, description="Values to set; null clears one.")

    @model_validator(mode="after")
    def _title_not_null(self) -> UpdateDeal:
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title may not be null")
        return self


class SnoozeMarker(BaseModel):
    """Hide a marker of a deal until a date."""

    reason: str = Field(min_length=1, max_length=2000)
    until: AwareDatetime


class AddComment(BaseModel):
    """Add an internal comment to a deal."""

    text: str = Field(min_length=1, max_length=20000)


@dataclass
class DealContext:
    """A deal with what its rules and state need: pipeline, stage, custom field specs and contacts."""

    deal: Deal
    pipeline: Pipeline
    stage: Stage
    specs: dict[str, FieldSpec]
    contact_ids: list[uuid.UUID]


@dataclass
class DealResult:
    state: DealState
    warnings: list[Warning] = field(default_factory=list)


async def load_specs(session: AsyncSession, pipeline_id: uuid.UUID) -> dict[str, FieldSpec]:
    rows = await session.scalars(select(PipelineField).where(PipelineField.pipeline_id == pipeline_id))
    return {row.key: FieldSpec(row.key, row.type, tuple(row.options)) for row in rows}


async def load_deal(session: AsyncSession, deal_id: uuid.UUID, *, for_update: bool = False) -> DealContext:
    """Load a deal with its context; raise ``NotFound`` when there is no such deal."""
    query = select(Deal).where(Deal.id == deal_id)
    deal = await session.scalar(query.with_for_update() if for_update else query)
    if deal is None:
        raise NotFound(f"deal {deal_id} not found", id=str(deal_id), status="not_found")
    return await deal_context(session, deal)


async def deal_context(session: AsyncSession, deal: Deal) -> DealContext:
    pipeline = await session.get_one(Pipeline, deal.pipeline_id)
    stage = await session.get_one(Stage, deal.stage_id)
    contact_ids = list(
        await session.scalars(
            select(DealContact.contact_id).where(DealContact.deal_id == deal.id).order_by(DealContact.position)
        )
    )
    return DealContext(deal, pipeline, stage, await load_specs(session, pipeline.id), contact_ids)


def deal_state(deal: Deal, stage: Stage, contact_ids: list[uuid.UUID] | None = None) -> DealState:
    return DealState(
        id=deal.id,
        title=deal.title,
        pipeline_id=deal.pipeline_id,
        stage_id=stage.id,
        stage_name=stage.name,
        stage_semantics=stage.semantics,
        amount=deal.amount,
        currency=deal.currency,
        owner_id=deal.owner_id,
        department=deal.department,
        workgroup=deal.workgroup,
        company_id=deal.company_id,
        contact_ids=contact_ids or [],
        primary_contact_id=deal.primary_contact_id,
        contact_name=deal.contact_name,
        contact_phone=deal.contact_phone,
        contact_email=deal.contact_email,
        source=DealSource.model_validate(deal.source),
        client_legal_entity_id=deal.client_legal_entity_id,
        our_legal_entity_id=deal.our_legal_entity_id,
        project_id=deal.project_id,
        next_step=deal.next_step,
        next_step_due_at=deal.next_step_due_at,
        stage_entered_at=deal.stage_entered_at,
        custom_fields=dict(deal.custom_fields),
        markers=[DealMarker.model_validate(marker) for marker in deal.markers],
        deleted=deal.deleted,
    )


def rule_values(deal: Deal, contact_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Return the deal's values by the names that stage rules use."""
    return {
        "amount": deal.amount,
        "currency": deal.currency,
        "owner_id": deal.owner_id,
        "company_id": deal.company_id,
        "contact_ids": contact_ids,
        "primary_contact_id": deal.primary_contact_id,
        "client_legal_entity_id": deal.client_legal_entity_id,
        "our_legal_entity_id": deal.our_legal_entity_id,
        "project_id": deal.project_id,
        "next_step": deal.next_step,
        "next_step_due_at": deal.next_step_due_at,
        "description": deal.description,
        **deal.custom_fields,
    }


def add_timeline(
    session: AsyncSession,
    deal_id: uuid.UUID,
    kind: str,
    origin: Origin,
    data: dict[str, Any] | None = None,
    *,
    link: dict[str, Any] | None = None,
) -> None:
    session.add(
        TimelineEntry(
            id=uuid.uuid4(), deal_id=deal_id, at=utcnow(), kind=kind, cause=origin.cause, data=data or {}, link=link
        )
    )


async def first_stage(session: AsyncSession, pipeline_id: uuid.UUID) -> Stage | None:
    return await session.scalar(select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position))


async def resolve_pipeline(session: AsyncSession, settings: ServiceSettings, key: str | None) -> Pipeline:
    pipeline_key = key or getattr(settings, "default_pipeline_key", "sales")
    pipeline = await session.scalar(select(Pipeline).where(Pipeline.key == pipeline_key))
    if pipeline is None:
        raise invalid(("pipeline_key", f"pipeline {pipeline_key!r} does not exist"))
    return pipeline


async def create_deal(
    session: AsyncSession,
    settings: ServiceSettings,
    command: CreateDeal,
    *,
    origin: Origin,
    source: DealSource,
    request_id: uuid.UUID | None = None,
    notes: list[dict[str, Any]] | None = None,
) -> DealResult:
    """Create a deal and record ``DealCreated`` in the same transaction."""
    _check_amount_currency(command.amount, command.currency)
    pipeline = await resolve_pipeline(session, settings, command.pipeline_key)
    stage = await _creation_stage(session, pipeline, command.stage_id)
    specs = await load_specs(session, pipeline.id)
    custom, errors = validate_custom_fields(specs, {}, command.custom_fields)
    if errors:
        raise invalid(*errors)
    links = await check_links(session, command)

    now = utcnow()
    deal = Deal(
        id=uuid.uuid4(),
        version=1,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        source=source.model_dump(mode="json"),
        request_id=request_id,
        custom_fields=custom,
        stage_entered_at=now,
        touched_at=now,
        created_at=now,
        updated_at=now,
        **command.model_dump(exclude={"pipeline_key", "stage_id", "custom_fields", "contact_ids"}),
    )
    deal.primary_contact_id = links.primary_contact_id
    _apply_contact_display(deal, links.primary_contact)
    missing = missing_to_enter(list(stage.required_fields), rule_values(deal, links.contact_ids), stage.name)
    if missing:
        raise invalid(*missing)

    session.add(deal)
    await session.flush()
    await _store_contacts(session, deal.id, links.contact_ids)
    add_timeline(session, deal.id, "created", origin, {"stage": stage.name, "pipeline": pipeline.key})
    for note in notes or []:
        add_timeline(session, deal.id, "routing_fallback", origin, note)
    await refresh_markers(session, deal, stage, now)
    state = deal_state(deal, stage, links.contact_ids)
    _record_deal(session, settings, DealCreated, deal, state, origin=origin, changed=sorted(DealState.model_fields))
    return DealResult(state, links.warnings)


async def _creation_stage(session: AsyncSession, pipeline: Pipeline, stage_id: uuid.UUID | None) -> Stage:
    if stage_id is None:
        stage = await first_stage(session, pipeline.id)
        if stage is None:
            raise invalid(("pipeline_key", f"pipeline {pipeline.key!r} has no stages"))
        return stage
    stage = await session.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline.id:
        raise invalid(("stage_id", f"stage {stage_id} is not a stage of pipeline {pipeline.key!r}"))
    return stage


def _apply_contact_display(deal: Deal, contact: Contact | None) -> None:
    """Show the primary contact's name, phone and e-mail on the deal."""
    if contact is None:
        return
    deal.contact_name = contact.name
    deal.contact_phone = contact.phones[0] if contact.phones else deal.contact_phone
    deal.contact_email = contact.emails[0] if contact.emails else deal.contact_email


async def _store_contacts(session: AsyncSession, deal_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> None:
    await session.execute(delete(DealContact).where(DealContact.deal_id == deal_id))
    session.add_all(
        DealContact(deal_id=deal_id, contact_id=contact_id, position=i) for i, contact_id in enumerate(contact_ids)
    )


def _record_deal(
    session: AsyncSession,
    settings: ServiceSettings,
    event_class: type[DealCreated] | type[DealUpdated],
    deal: Deal,
    state: DealState,
    *,
    origin: Origin,
    changed: list[str],
) -> None:
    record(
        session,
        settings,
        Topic.CRM_DEALS,
        event_class,
        aggregate_id=deal.id,
        version=deal.version,
        origin=origin,
        data=DealChange(deal=state, changed=changed),
    )


async def update_deal(
    session: AsyncSession, settings: ServiceSettings, ctx: DealContext, command: UpdateDeal, *, origin: Origin
) -> DealResult:
    """Apply the fields sent in ``command``, enforcing links, custom fields and stage rules."""
    sent = command.model_dump(exclude_unset=True)
    deal = ctx.deal
    before = {key: getattr(deal, key) for key in (*sent, "primary_contact_id") if hasattr(deal, key)}

    target_pipeline, target_stage, specs = await _target_stage(session, ctx, command)
    custom = _merged_custom_fields(ctx, specs, target_pipeline.id, sent.get("custom_fields"))
    merged_links = DealLinks(**{**_current_links(ctx), **{k: sent[k] for k in DealLinks.model_fields if k in sent}})
    links = await check_links(session, merged_links)

    _assign(deal, sent, merged_links, links, custom)
    if "amount" in sent or "currency" in sent:
        # Deals stored before this rule may lack a currency, so only a change of either field is checked.
        _check_amount_currency(deal.amount, deal.currency)
    _check_stage_rules(ctx, target_stage, rule_values(deal, links.contact_ids))

    changed = [key for key, value in before.items() if value != getattr(deal, key)]
    if links.contact_ids != ctx.contact_ids:
        await _store_contacts(session, deal.id, links.contact_ids)
        changed.append("contact_ids")
    moved = target_stage.id != ctx.stage.id
    if not changed and not moved:
        return DealResult(deal_state(deal, ctx.stage, ctx.contact_ids), links.warnings)

    now = utcnow()
    if changed:
        values = {key: to_jsonable_python(getattr(deal, key)) for key in changed if hasattr(deal, key)}
        add_timeline(session, deal.id, "updated", origin, {"changed": sorted(changed), "values": values})
    if moved:
        _move(session, ctx, target_pipeline, target_stage, origin=origin, now=now)
        changed += ["stage_id", "stage_name", "stage_semantics"]
        changed += ["pipeline_id"] if target_pipeline.id != ctx.pipeline.id else []
    ctx.stage, ctx.pipeline, ctx.specs, ctx.contact_ids = target_stage, target_pipeline, specs, links.contact_ids
    state = await save_change(session, settings, ctx, origin, sorted(set(changed)), touched=True, now=now)
    return DealResult(state, links.warnings)


def _assign(deal: Deal, sent: dict[str, Any], links: DealLinks, checked: LinkCheck, custom: dict[str, Any]) -> None:
    """Set the deal's plain fields as sent, its links as checked, and its custom fields as merged."""
    for key, value in sent.items():
        if key not in {*DealLinks.model_fields, "custom_fields", "pipeline_id", "stage_id"}:
            setattr(deal, key, value)
    for key in ("company_id", "client_legal_entity_id", "our_legal_entity_id", "project_id"):
        setattr(deal, key, getattr(links, key))
    deal.primary_contact_id = checked.primary_contact_id
    if "primary_contact_id" in sent or "contact_ids" in sent:
        _apply_contact_display(deal, checked.primary_contact)
    deal.custom_fields = custom


def _check_amount_currency(amount: Decimal | None, currency: str | None) -> None:
    """Reject an amount without a currency, which no board total could count."""
    if amount is not None and not currency:
        raise invalid(("currency", "required when the deal has an amount, as an ISO 4217 code such as RUB"))


def _current_links(ctx: DealContext) -> dict[str, Any]:
    deal = ctx.deal
    return {
        "company_id": deal.company_id,
        "contact_ids": ctx.contact_ids,
        "primary_contact_id": deal.primary_contact_id,
        "client_legal_entity_id": deal.client_legal_entity_id,
        "our_legal_entity_id": deal.our_legal_entity_id,
        "project_id": deal.project_id,
    }


async def _target_stage(
    session: AsyncSession, ctx: DealContext, command: UpdateDeal
) -> tuple[Pipeline, Stage, dict[str, FieldSpec]]:
    sent = command.model_fields_set
    pipeline = ctx.pipeline
    if "pipeline_id" in sent and command.pipeline_id is not None and command.pipeline_id != ctx.pipeline.id:
        found = await session.get(Pipeline, command.pipeline_id)
        if found is None:
            raise invalid(("pipeline_id", f"pipeline {command.pipeline_id} does not exist"))
        pipeline = found
    if "stage_id" in sent and command.stage_id is not None:
        stage = await session.get(Stage, command.stage_id)
        if stage is None or stage.pipeline_id != pipeline.id:
            raise invalid(("stage_id", f"stage {command.stage_id} is not a stage of pipeline {pipeline.key!r}"))
    elif pipeline.id != ctx.pipeline.id:
        first = await first_stage(session, pipeline.id)
        if first is None:
            raise invalid(("pipeline_id", f"pipeline {pipeline.key!r} has no stages"))
        stage = first
    else:
        stage = ctx.stage
    specs = ctx.specs if pipeline.id == ctx.pipeline.id else await load_specs(session, pipeline.id)
    return pipeline, stage, specs


def _merged_custom_fields(
    ctx: DealContext, specs: dict[str, FieldSpec], pipeline_id: uuid.UUID, changes: dict[str, Any] | None
) -> dict[str, Any]:
    current = dict(ctx.deal.custom_fields)
    if pipeline_id != ctx.pipeline.id:
        # Values move to the new pipeline only where it has a field of the same key and type.
        current = {
            key: value
            for key, value in current.items()
            if key in specs and ctx.specs.get(key) is not None and ctx.specs[key].type == specs[key].type
        }
    values, errors = validate_custom_fields(specs, current, changes or {})
    if errors:
        raise invalid(*errors)
    return values


def _check_stage_rules(ctx: DealContext, target: Stage, values: dict[str, Any]) -> None:
    if target.id == ctx.stage.id:
        return
    errors = unmet_exit_conditions(list(ctx.stage.exit_conditions), values, ctx.stage.name)
    errors += missing_to_enter(list(target.required_fields), values, target.name)
    if errors:
        raise invalid(*errors)


def _move(
    session: AsyncSession, ctx: DealContext, pipeline: Pipeline, stage: Stage, *, origin: Origin, now: datetime
) -> None:
    deal = ctx.deal
    add_timeline(
        session,
        deal.id,
        "stage_changed",
        origin,
        {
            "from_stage": {"id": str(ctx.stage.id), "name": ctx.stage.name},
            "to_stage": {"id": str(stage.id), "name": stage.name, "semantics": stage.semantics},
            "from_pipeline": ctx.pipeline.key,
            "to_pipeline": pipeline.key,
            "days_in_stage": round((now - deal.stage_entered_at).total_seconds() / 86400, 2),
        },
    )
    deal.pipeline_id = pipeline.id
    deal.stage_id = stage.id
    deal.stage_entered_at = now


async def save_change(
    session: AsyncSession,
    settings: ServiceSettings,
    ctx: DealContext,
    origin: Origin,
    changed: list[str],
    *,
    touched: bool,
    now: datetime | None = None,
) -> DealState:
    """Raise the version, recompute markers and record ``DealUpdated``; a person's change clears task_result."""
    deal = ctx.deal
    now = now or utcnow()
    if touched and origin.by_person:
        deal.touched_at = now
        if deal.attention_task_id is not None:
            deal.attention_task_id = None
            deal.attention_since = None
    if await refresh_markers(session, deal, ctx.stage, now) and "markers" not in changed:
        changed = [*changed, "markers"]
    deal.version += 1
    deal.updated_at = now
    await session.flush()
    state = deal_state(deal, ctx.stage, ctx.contact_ids)
    _record_deal(session, settings, DealUpdated, deal, state, origin=origin, changed=changed)
    return state


async def refresh_markers(session: AsyncSession, deal: Deal, stage: Stage, now: datetime) -> bool:
    """Recompute the deal's markers into ``deal.markers``; return whether they changed."""
    has_open_task = await session.scalar(
        select(
            exists().where(
                TaskView.deal_id == deal.id, TaskView.status.in_(OPEN_TASK_STATUSES), TaskView.deleted.is_(False)
            )
        )
    )
    snoozes = await session.scalars(select(MarkerSnooze).where(MarkerSnooze.deal_id == deal.id))
    facts = DealFacts(
        is_open=stage.semantics == "in_progress" and not deal.deleted,
        now=now,
        next_step=deal.next_step,
        next_step_due_at=deal.next_step_due_at,
        has_open_task=bool(has_open_task),
        stage_entered_at=deal.stage_entered_at,
        stage_max_days=stage.max_days,
        attention_task_id=deal.attention_task_id,
        attention_since=deal.attention_since,
        snoozed_until={snooze.kind: snooze.until for snooze in snoozes},
    )
    markers = [marker.model_dump(mode="json") for marker in compute_markers(facts)]
    if markers == deal.markers:
        return False
    deal.markers = markers
    return True


async def add_comment(
    session: AsyncSession, settings: ServiceSettings, ctx: DealContext, command: AddComment, *, origin: Origin
) -> DealState:
    """Add an internal comment; it counts as an update of the deal for its markers."""
    comment = DealComment(
        id=uuid.uuid4(),
        deal_id=ctx.deal.id,
        author_id=origin.actor.id,
        author_name=origin.actor.name,
        text=command.text,
        created_at=utcnow(),
    )
    session.add(comment)
    add_timeline(session, ctx.deal.id, "comment", origin, {"comment_id": str(comment.id), "text": command.text})
    return await save_change(session, settings, ctx, origin, ["comments"], touched=True)


async def snooze_marker(
    session: AsyncSession,
    settings: ServiceSettings,
    ctx: DealContext,
    kind: MarkerKind,
    command: SnoozeMarker,
    *,
    origin: Origin,
) -> DealState:
    """Hide marker ``kind`` until ``command.until``; the deal's other markers stay."""
    if command.until <= utcnow():
        raise invalid(("until", "a snooze must end in the future"))
    existing = await session.get(MarkerSnooze, (ctx.deal.id, kind))
    if existing is None:
        existing = MarkerSnooze(deal_id=ctx.deal.id, kind=kind, until=command.until, reason="", user_id="")
        session.add(existing)
    existing.until = command.until
    existing.reason = command.reason
    existing.user_id = origin.actor.id
    existing.created_at = utcnow()
    await session.flush()
    add_timeline(
        session,
        ctx.deal.id,
        "marker_snoozed",
        origin,
        {"marker": kind, "until": command.until.isoformat(), "reason": command.reason},
    )
    return await save_change(session, settings, ctx, origin, ["markers"], touched=False)


async def delete_deal(
    session: AsyncSession, settings: ServiceSettings, ctx: DealContext, *, origin: Origin
) -> DealState:
    """Mark a deal deleted and record ``DealUpdated`` with ``deleted: true``."""
    ctx.deal.deleted = True
    add_timeline(session, ctx.deal.id, "deleted", origin)
    return await save_change(session, settings, ctx, origin, ["deleted"], touched=True)


async def create_deal_from_request(session: AsyncSession, settings: ServiceSettings, event: RequestAccepted) -> None:
    """Turn an accepted inquiry into a deal, once per request, in the pipeline and stage its routing chose.

    The deal gets the department that routing chose, else the ``inquiry_department`` setting.
    """
    inquiry = event.data
    existing = await session.scalar(select(Deal.id).where(Deal.request_id == inquiry.id))
    if existing is not None:
        return
    origin = Origin(
        actor=event.actor,
        correlation_id=event.correlation_id,
        causation_id=event.event_id,
        cause={"type": "request", "id": str(inquiry.id), "name": inquiry.form_key or inquiry.channel},
    )
    notes: list[dict[str, Any]] = []
    pipeline_key, stage_id = await _route(session, settings, inquiry.pipeline_key, inquiry.stage_key, notes)
    command = CreateDeal(
        title=inquiry.title[:500],
        pipeline_key=pipeline_key,
        stage_id=stage_id,
        owner_id=inquiry.owner_id,
        department=inquiry.department or getattr(settings, "inquiry_department", None),
        contact_name=inquiry.contact.name,
        contact_phone=inquiry.contact.phone,
        contact_email=inquiry.contact.email,
        description=inquiry.message,
    )
    source = DealSource(
        kind="form" if inquiry.source == "form" else "channel",
        request_id=inquiry.id,
        form_key=inquiry.form_key,
        channel=inquiry.channel,
        utm=inquiry.utm,
    )
    try:
        await create_deal(session, settings, command, origin=origin, source=source, request_id=inquiry.id, notes=notes)
    except ValidationFailed as exc:
        if stage_id is None:
            raise
        # The routed stage requires fields an inquiry cannot fill: start in the first stage instead.
        notes.append({"reason": "stage_rules", "stage_key": inquiry.stage_key, "errors": exc.details.get("errors")})
        command = command.model_copy(update={"stage_id": None})
        await create_deal(session, settings, command, origin=origin, source=source, request_id=inquiry.id, notes=notes)


async def _route(
    session: AsyncSession,
    settings: ServiceSettings,
    pipeline_key: str | None,
    stage_key: str | None,
    notes: list[dict[str, Any]],
) -> tuple[str | None, uuid.UUID | None]:
    """Resolve intake's routing; an unknown key falls back to the default and is noted for the timeline."""
    pipeline = None
    if pipeline_key is not None:
        pipeline = await session.scalar(select(Pipeline).where(Pipeline.key == pipeline_key))
        if pipeline is None:
            logger.warning("intake routed to unknown pipeline %s; using the default pipeline", pipeline_key)
            notes.append({"reason": "unknown_pipeline", "pipeline_key": pipeline_key})
    if pipeline is None:
        pipeline = await resolve_pipeline(session, settings, None)
    if stage_key is None:
        return pipeline.key, None
    stage = await session.scalar(select(Stage).where(Stage.pipeline_id == pipeline.id, Stage.name == stage_key))
    if stage is None:
        logger.warning(
            "intake routed to unknown stage %s of pipeline %s; using its first stage", stage_key, pipeline.key
        )
        notes.append({"reason": "unknown_stage", "stage_key": stage_key, "pipeline_key": pipeline.key})
        return pipeline.key, None
    return pipeline.key, stage.id
