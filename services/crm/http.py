"""CRM's HTTP routes: client records, pipelines, deals, and the card, workspace and board views."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.crm import DealSource, DealState, MarkerKind
from servicekit.auth import CurrentUser, Principal
from servicekit.errors import NotFound, PermissionDenied
from servicekit.logs import correlation_id
from servicekit.service import ServiceRuntime
from services.crm import views
from services.crm.access import AccessPolicy
from services.crm.clients import (
    COMPANIES,
    CONTACTS,
    LEGAL_ENTITIES,
    PROJECTS,
    CompanyFields,
    ContactFields,
    LegalEntityFields,
    ProjectFields,
    RecordKind,
    create_record,
    delete_record,
    find_contact_duplicates,
    find_tax_id_duplicates,
    update_record,
)
from services.crm.common import MAX_PAGE, Origin, decode_cursor, encode_cursor, invalid, require_version
from services.crm.guard import Guard
from services.crm.handlers import (
    AddComment,
    CreateDeal,
    DealContext,
    SnoozeMarker,
    UpdateDeal,
    add_comment,
    create_deal,
    deal_context,
    deal_state,
    delete_deal,
    load_deal,
    snooze_marker,
    update_deal,
)
from services.crm.merge import MergeRecords, merge_companies, merge_contacts
from services.crm.pipelines import (
    CreatePipeline,
    FieldSpecIn,
    StageRules,
    add_field,
    create_pipeline,
    pipeline_view,
    set_stage_rules,
)
from services.crm.settings import CrmSettings
from services.crm.tables import (
    Company,
    Contact,
    Deal,
    DealComment,
    LegalEntity,
    Pipeline,
    Project,
    Stage,
    TimelineEntry,
)

router = APIRouter()

IfMatch = Annotated[str | None, Header(alias="If-Match", description="The record version the change is based on.")]


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _origin(user: Principal) -> Origin:
    return Origin.user(user, correlation_id() or str(uuid.uuid4()))


@asynccontextmanager
async def _session(request: Request, user: Principal, *, write: bool) -> AsyncIterator[tuple[AsyncSession, Guard]]:
    """Open a session (in a transaction when writing) and the user's access guard; notify the relay after."""
    runtime = _runtime(request)
    policy: AccessPolicy = runtime.extras["policy"]
    async with runtime.sessionmaker() as session:
        if write:
            async with session.begin():
                yield session, await Guard.load(session, policy, user)
            runtime.relay.notify()
        else:
            yield session, await Guard.load(session, policy, user)


# ---------------------------------------------------------------------------------------------------------
# Client records: the same five routes for each kind


def _with_owner(fields: BaseModel, user: Principal, kind: RecordKind) -> BaseModel:
    if kind is LEGAL_ENTITIES:
        return fields
    updates: dict[str, Any] = {}
    if getattr(fields, "owner_id", None) is None:
        updates["owner_id"] = user.user_id
    if getattr(fields, "department", None) is None:
        updates["department"] = user.department
    return fields.model_copy(update=updates)


async def _create(request: Request, user: Principal, kind: RecordKind, fields: BaseModel) -> dict[str, Any]:
    fields = _with_owner(fields, user, kind)
    async with _session(request, user, write=True) as (session, guard):
        if kind is LEGAL_ENTITIES:
            await _require_entity_write(session, guard, fields, "create")
        else:
            guard.require_create(kind.entity, fields)
            await _require_readable_links(session, guard, fields.model_dump(exclude_unset=True))
        row = await create_record(session, _runtime(request).settings, kind, fields, _origin(user))
        body: dict[str, Any] = {**kind.state(row).model_dump(mode="json"), "warnings": []}
        if isinstance(row, Company):
            duplicates = await find_tax_id_duplicates(session, row)
            body["warnings"] = await _duplicate_warnings(session, guard, "company", duplicates, "tax_id")
        elif isinstance(row, Contact):
            same_person = await find_contact_duplicates(session, row)
            body["warnings"] = await _duplicate_warnings(session, guard, "contact", same_person, "phones, emails")
    return body


_LINKS: tuple[tuple[str, str, type[Any]], ...] = (
    ("company_id", "company", Company),
    ("primary_contact_id", "contact", Contact),
    ("client_legal_entity_id", "legal_entity", LegalEntity),
    ("our_legal_entity_id", "legal_entity", LegalEntity),
    ("project_id", "project", Project),
)


async def _require_readable_links(session: AsyncSession, guard: Guard, values: dict[str, Any]) -> None:
    """Raise 403 naming the owner when ``fields`` link a record the user may not read.

    Linking copies some of the record into the linking one (a deal keeps its contact's name and phone),
    so a link needs the same right as reading the record. Unknown ids are left to the handlers' 422.
    """
    links = [(entity, table, values.get(field)) for field, entity, table in _LINKS]
    links += [("contact", Contact, contact_id) for contact_id in values.get("contact_ids") or []]
    for entity, table, value in links:
        record_id = _as_uuid(value)
        row = await session.get(table, record_id) if record_id is not None else None
        if row is not None:
            await guard.require(session, entity, "read", row)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _require_entity_write(session: AsyncSession, guard: Guard, fields: BaseModel, action: str) -> None:
    """Creating a client's legal entity takes the right to update its company; ours takes level all."""
    values = fields.model_dump(include={"company_id", "is_own"})
    company = await session.get(Company, values["company_id"]) if values["company_id"] else None
    if company is None and not values["is_own"]:
        return  # create_record rejects a missing company with a 422 that names company_id
    probe = LEGAL_ENTITIES.table(id=uuid.uuid4(), **values)
    await guard.require(session, "legal_entity", "update" if action == "create" else action, probe)  # type: ignore[arg-type]


async def _duplicate_warnings(
    session: AsyncSession, guard: Guard, entity: str, duplicates: list[Any], field: str
) -> list[dict[str, Any]]:
    """Report possible duplicates as references, restricted where the user may not read them."""
    if not duplicates:
        return []
    kind = COMPANIES if entity == "company" else CONTACTS
    references = [await guard.reference(session, entity, other.id, other, kind.state(other)) for other in duplicates]
    return [
        {
            "field": field,
            "code": "duplicate",
            "message": f"{len(duplicates)} other {entity} record(s) share {field}",
            "duplicates": references,
        }
    ]


async def _get(request: Request, user: Principal, kind: RecordKind, record_id: uuid.UUID) -> dict[str, Any]:
    async with _session(request, user, write=False) as (session, guard):
        row = await guard.readable(session, kind.entity, await session.get(kind.table, record_id), record_id)
        return kind.state(row).model_dump(mode="json")


async def _list(request: Request, user: Principal, kind: RecordKind, *conditions: Any) -> dict[str, Any]:
    query = select(kind.table).where(kind.table.deleted.is_(False), *conditions).limit(500)  # type: ignore[attr-defined]
    async with _session(request, user, write=False) as (session, guard):
        rows = list(await session.scalars(query))
        items = [
            kind.state(row).model_dump(mode="json")
            for row in rows
            if (await guard.decide(session, kind.entity, "read", row)).allowed
        ]
    return {"items": items}


async def _update(
    request: Request, user: Principal, kind: RecordKind, record_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(kind.fields.model_fields))
    if unknown:
        raise invalid(*((name, "unknown field") for name in unknown))
    async with _session(request, user, write=True) as (session, guard):
        row = await guard.readable(session, kind.entity, await session.get(kind.table, record_id), record_id)
        await guard.require(session, kind.entity, "update", row)
        await _require_readable_links(session, guard, changes)
        try:
            row = await update_record(session, _runtime(request).settings, kind, row, changes, origin=_origin(user))
        except ValidationError as exc:
            raise invalid(*((".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors())) from exc
        return kind.state(row).model_dump(mode="json")


async def _delete(request: Request, user: Principal, kind: RecordKind, record_id: uuid.UUID) -> Response:
    async with _session(request, user, write=True) as (session, guard):
        row = await guard.readable(session, kind.entity, await session.get(kind.table, record_id), record_id)
        await guard.require(session, kind.entity, "delete", row)
        await delete_record(session, _runtime(request).settings, kind, row, _origin(user))
    return Response(status_code=204)


@router.post("/companies", status_code=201)
async def post_company(request: Request, body: CompanyFields, user: CurrentUser) -> dict[str, Any]:
    """Create a client company; a company with the same tax id comes back as a duplicate warning."""
    return await _create(request, user, COMPANIES, body)


@router.get("/companies")
async def list_companies(request: Request, user: CurrentUser, tax_id: str | None = None) -> dict[str, Any]:
    """List the companies the user may read."""
    conditions = [Company.tax_id == tax_id.upper()] if tax_id else []
    return await _list(request, user, COMPANIES, *conditions)


@router.get("/companies/{company_id}")
async def get_company(request: Request, company_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return a company the user may read."""
    return await _get(request, user, COMPANIES, company_id)


@router.patch("/companies/{company_id}")
async def patch_company(
    request: Request, company_id: uuid.UUID, user: CurrentUser, body: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields sent."""
    return await _update(request, user, COMPANIES, company_id, body)


@router.delete("/companies/{company_id}", status_code=204)
async def delete_company(request: Request, company_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a company deleted."""
    return await _delete(request, user, COMPANIES, company_id)


@router.get("/companies/{company_id}/workspace")
async def company_workspace(request: Request, company_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return the company's contacts, deals, tasks, documents and files with counters."""
    async with _session(request, user, write=False) as (session, guard):
        company = await guard.readable(session, "company", await session.get(Company, company_id), company_id)
        return await views.company_workspace(session, guard, company)


async def _merge(
    request: Request, user: Principal, kind: RecordKind, target_id: uuid.UUID, body: MergeRecords
) -> dict[str, Any]:
    async with _session(request, user, write=True) as (session, guard):
        target = await guard.readable(session, kind.entity, await session.get(kind.table, target_id), target_id)
        source = await guard.readable(
            session, kind.entity, await session.get(kind.table, body.source_id), body.source_id
        )
        await guard.require(session, kind.entity, "update", target)
        await guard.require(session, kind.entity, "delete", source)
        merge = merge_companies if kind is COMPANIES else merge_contacts
        return await merge(session, _runtime(request).settings, target, source, origin=_origin(user))


@router.post("/companies/{company_id}/merge")
async def post_company_merge(
    request: Request, company_id: uuid.UUID, body: MergeRecords, user: CurrentUser
) -> dict[str, Any]:
    """Merge a duplicate company into this one; the report lists changed and conflicting fields."""
    return await _merge(request, user, COMPANIES, company_id, body)


@router.post("/contacts/{contact_id}/merge")
async def post_contact_merge(
    request: Request, contact_id: uuid.UUID, body: MergeRecords, user: CurrentUser
) -> dict[str, Any]:
    """Merge a duplicate contact into this one; the report lists changed and conflicting fields."""
    return await _merge(request, user, CONTACTS, contact_id, body)


@router.post("/contacts", status_code=201)
async def post_contact(request: Request, body: ContactFields, user: CurrentUser) -> dict[str, Any]:
    """Create a contact, of a company or of none."""
    return await _create(request, user, CONTACTS, body)


@router.get("/contacts")
async def list_contacts(request: Request, user: CurrentUser, company_id: uuid.UUID | None = None) -> dict[str, Any]:
    """List the contacts the user may read, optionally of one company."""
    conditions = [Contact.company_id == company_id] if company_id else []
    return await _list(request, user, CONTACTS, *conditions)


@router.get("/contacts/{contact_id}")
async def get_contact(request: Request, contact_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return a contact the user may read."""
    return await _get(request, user, CONTACTS, contact_id)


@router.patch("/contacts/{contact_id}")
async def patch_contact(
    request: Request, contact_id: uuid.UUID, user: CurrentUser, body: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields sent."""
    return await _update(request, user, CONTACTS, contact_id, body)


@router.delete("/contacts/{contact_id}", status_code=204)
async def delete_contact(request: Request, contact_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a contact deleted."""
    return await _delete(request, user, CONTACTS, contact_id)


@router.get("/contacts/{contact_id}/workspace")
async def contact_workspace(request: Request, contact_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return the contact's deals, tasks, documents and files with counters."""
    async with _session(request, user, write=False) as (session, guard):
        contact = await guard.readable(session, "contact", await session.get(Contact, contact_id), contact_id)
        return await views.contact_workspace(session, guard, contact)


@router.post("/legal-entities", status_code=201)
async def post_legal_entity(request: Request, body: LegalEntityFields, user: CurrentUser) -> dict[str, Any]:
    """Create a client's legal entity (``company_id``) or one of our own (``is_own``)."""
    return await _create(request, user, LEGAL_ENTITIES, body)


@router.get("/legal-entities")
async def list_legal_entities(
    request: Request, user: CurrentUser, company_id: uuid.UUID | None = None, is_own: bool | None = None
) -> dict[str, Any]:
    """List the legal entities the user may read, of one company or our own."""
    table = LEGAL_ENTITIES.table
    conditions = [table.company_id == company_id] if company_id else []  # type: ignore[attr-defined]
    conditions += [table.is_own.is_(is_own)] if is_own is not None else []  # type: ignore[attr-defined]
    return await _list(request, user, LEGAL_ENTITIES, *conditions)


@router.get("/legal-entities/{entity_id}")
async def get_legal_entity(request: Request, entity_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return a legal entity the user may read."""
    return await _get(request, user, LEGAL_ENTITIES, entity_id)


@router.patch("/legal-entities/{entity_id}")
async def patch_legal_entity(
    request: Request, entity_id: uuid.UUID, user: CurrentUser, body: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields sent."""
    return await _update(request, user, LEGAL_ENTITIES, entity_id, body)


@router.delete("/legal-entities/{entity_id}", status_code=204)
async def delete_legal_entity(request: Request, entity_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a legal entity deleted."""
    return await _delete(request, user, LEGAL_ENTITIES, entity_id)


@router.post("/projects", status_code=201)
async def post_project(request: Request, body: ProjectFields, user: CurrentUser) -> dict[str, Any]:
    """Create a client project."""
    return await _create(request, user, PROJECTS, body)


@router.get("/projects")
async def list_projects(request: Request, user: CurrentUser) -> dict[str, Any]:
    """List the projects the user may read."""
    return await _list(request, user, PROJECTS)


@router.get("/projects/{project_id}")
async def get_project(request: Request, project_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return a project the user may read."""
    return await _get(request, user, PROJECTS, project_id)


@router.patch("/projects/{project_id}")
async def patch_project(
    request: Request, project_id: uuid.UUID, user: CurrentUser, body: dict[str, Any]
) -> dict[str, Any]:
    """Change the fields sent."""
    return await _update(request, user, PROJECTS, project_id, body)


@router.delete("/projects/{project_id}", status_code=204)
async def delete_project(request: Request, project_id: uuid.UUID, user: CurrentUser) -> Response:
    """Mark a project deleted."""
    return await _delete(request, user, PROJECTS, project_id)


# ---------------------------------------------------------------------------------------------------------
# Pipelines


async def _pipeline(session: AsyncSession, pipeline_id: uuid.UUID) -> Pipeline:
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(f"pipeline {pipeline_id} not found", id=str(pipeline_id), status="not_found")
    return pipeline


@router.get("/pipelines")
async def list_pipelines(request: Request, user: CurrentUser) -> dict[str, Any]:
    """List the pipelines with their stages and custom fields."""
    async with _session(request, user, write=False) as (session, _guard):
        pipelines = list(await session.scalars(select(Pipeline).order_by(Pipeline.key)))
        return {"items": [await pipeline_view(session, pipeline) for pipeline in pipelines]}


@router.post("/pipelines", status_code=201)
async def post_pipeline(request: Request, body: CreatePipeline, user: CurrentUser) -> dict[str, Any]:
    """Create a pipeline with its ordered stages, stage rules and custom fields."""
    async with _session(request, user, write=True) as (session, guard):
        guard.require_create("pipeline", None)
        pipeline = await create_pipeline(session, body)
        return await pipeline_view(session, pipeline)


@router.get("/pipelines/{pipeline_id}")
async def get_pipeline(request: Request, pipeline_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return a pipeline with its stages and custom fields."""
    async with _session(request, user, write=False) as (session, _guard):
        return await pipeline_view(session, await _pipeline(session, pipeline_id))


@router.post("/pipelines/{pipeline_id}/fields", status_code=201)
async def post_pipeline_field(
    request: Request, pipeline_id: uuid.UUID, body: FieldSpecIn, user: CurrentUser
) -> dict[str, Any]:
    """Add a typed custom field to a pipeline."""
    async with _session(request, user, write=True) as (session, guard):
        pipeline = await _pipeline(session, pipeline_id)
        await guard.require(session, "pipeline", "update", _Unowned(pipeline.id))
        await add_field(session, pipeline, body)
        return await pipeline_view(session, pipeline)


@router.put("/pipelines/{pipeline_id}/stages/{stage_id}/rules")
async def put_stage_rules(
    request: Request, pipeline_id: uuid.UUID, stage_id: uuid.UUID, body: StageRules, user: CurrentUser
) -> dict[str, Any]:
    """Replace a stage's required fields, exit conditions and days before it is stale."""
    async with _session(request, user, write=True) as (session, guard):
        pipeline = await _pipeline(session, pipeline_id)
        await guard.require(session, "pipeline", "update", _Unowned(pipeline.id))
        stage = await session.get(Stage, stage_id)
        if stage is None or stage.pipeline_id != pipeline.id:
            raise NotFound(f"stage {stage_id} is not a stage of pipeline {pipeline.key!r}", id=str(stage_id))
        await set_stage_rules(session, pipeline, stage, body)
        return await pipeline_view(session, pipeline)


@router.get("/pipelines/{pipeline_id}/board")
async def get_board(
    request: Request,
    pipeline_id: uuid.UUID,
    user: CurrentUser,
    owner_id: str | None = None,
    marker: MarkerKind | None = None,
) -> dict[str, Any]:
    """Return the pipeline's deals by stage with counts, sums per currency and marker counts."""
    async with _session(request, user, write=False) as (session, guard):
        pipeline = await _pipeline(session, pipeline_id)
        return await views.board(session, guard, pipeline, owner_id=owner_id, marker=marker)


class _Unowned:
    """A configuration record without owner: only level ``all`` reaches it."""

    def __init__(self, record_id: uuid.UUID) -> None:
        self.id = record_id
        self.owner_id: str | None = None
        self.department: str | None = None


# ---------------------------------------------------------------------------------------------------------
# Deals


async def _deal_for(session: AsyncSession, guard: Guard, deal_id: uuid.UUID, action: str) -> DealContext:
    ctx = await load_deal(session, deal_id, for_update=action != "read")
    await guard.readable(session, "deal", ctx.deal, deal_id)
    if action != "read":
        await guard.require(session, "deal", action, ctx.deal)  # type: ignore[arg-type]
    return ctx


@router.post("/deals", status_code=201)
async def post_deal(request: Request, response: Response, body: CreateDeal, user: CurrentUser) -> dict[str, Any]:
    """Create a deal; ``warnings`` lists contacts or a project of another company."""
    if body.owner_id is None:
        body = body.model_copy(update={"owner_id": user.user_id, "department": body.department or user.department})
    async with _session(request, user, write=True) as (session, guard):
        settings: CrmSettings = _runtime(request).settings  # type: ignore[assignment]
        guard.require_create("deal", body, pipeline_key=body.pipeline_key or settings.default_pipeline_key)
        await _require_readable_links(session, guard, body.model_dump(exclude_unset=True))
        result = await create_deal(
            session, _runtime(request).settings, body, origin=_origin(user), source=DealSource(kind="manual")
        )
    # Every deal starts at version 1, so the ETag lets the first change send If-Match without a read.
    response.headers["ETag"] = '"1"'
    return {**result.state.model_dump(mode="json"), "warnings": result.warnings}


@router.get("/deals")
async def list_deals(
    request: Request,
    user: CurrentUser,
    *,
    request_id: uuid.UUID | None = None,
    company_id: uuid.UUID | None = None,
    owner_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Deals per page.")] = MAX_PAGE,
    cursor: Annotated[str | None, Query(max_length=200, description="The previous page's next_cursor.")] = None,
) -> dict[str, Any]:
    """List the deals the user may read, newest first, a page at a time; optionally the one made from a request.

    ``next_cursor`` is set while more deals may follow; pass it as ``cursor`` for the next page.
    """
    query = select(Deal).where(Deal.deleted.is_(False)).order_by(Deal.created_at.desc(), Deal.id.desc())
    if cursor is not None:
        created_at, deal_id = decode_cursor(cursor)
        query = query.where(tuple_(Deal.created_at, Deal.id) < tuple_(literal(created_at), literal(deal_id)))
    if request_id is not None:
        query = query.where(Deal.request_id == request_id)
    if company_id is not None:
        query = query.where(Deal.company_id == company_id)
    if owner_id is not None:
        query = query.where(Deal.owner_id == owner_id)
    return await _deal_list(request, user, query, limit=limit)


@router.get("/deals/attention")
async def list_attention(
    request: Request, user: CurrentUser, marker: MarkerKind | None = None, owner_id: str | None = None
) -> dict[str, Any]:
    """List the readable deals that carry markers, optionally of one kind or owner."""
    query = (
        select(Deal)
        .where(Deal.deleted.is_(False), func.json_array_length(Deal.markers) > 0)
        .order_by(Deal.updated_at.desc())
    )
    if owner_id is not None:
        query = query.where(Deal.owner_id == owner_id)
    listing = await _deal_list(request, user, query, limit=1000)
    items = [item for item in listing["items"] if marker is None or any(m.kind == marker for m in item.markers)]
    return {"items": items[:200], "count": len(items)}


async def _deal_list(request: Request, user: Principal, query: Any, *, limit: int) -> dict[str, Any]:
    # NOTE: each deal loads its stage, pipeline and contacts with separate queries. Lists are capped at
    # 200 to 1000 rows, so larger pages would need a join instead.
    async with _session(request, user, write=False) as (session, guard):
        items: list[DealState] = []
        # Filtering in SQL before LIMIT keeps readable deals from being crowded out by hidden ones;
        # the per-row check below stays the authority.
        readable = guard.policy.condition(user, "deal", "read", Deal, pipeline_keys=guard.pipeline_keys)
        granted = guard.granted_ids("deal")
        if granted:
            readable = or_(readable, Deal.id.in_(granted))
        # Reading one row more than the page shows whether another page follows.
        rows = list(await session.scalars(query.where(readable).limit(limit + 1)))
        for deal in rows[:limit]:
            if (await guard.decide(session, "deal", "read", deal)).allowed:
                ctx = await deal_context(session, deal)
                items.append(deal_state(deal, ctx.stage, ctx.contact_ids))
    # The cursor is the last row read, not the last returned, so a row the per-row check hid is not read again.
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/deals/{deal_id}")
async def get_deal(request: Request, response: Response, deal_id: uuid.UUID, user: CurrentUser) -> DealState:
    """Return a deal the user may read, with its version as the ETag; 403 names the owner to ask otherwise."""
    async with _session(request, user, write=False) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "read")
        response.headers["ETag"] = f'"{ctx.deal.version}"'
        return deal_state(ctx.deal, ctx.stage, ctx.contact_ids)


@router.patch("/deals/{deal_id}")
async def patch_deal(
    request: Request,
    *,
    response: Response,
    deal_id: uuid.UUID,
    body: UpdateDeal,
    user: CurrentUser,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change a deal: fields, links, custom fields, stage or pipeline; stage rules apply.

    With ``If-Match`` the change applies only to that version of the deal, else 409 ``version_mismatch``.
    """
    async with _session(request, user, write=True) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "update")
        require_version("deal", ctx.deal, if_match)
        await _require_readable_links(session, guard, body.model_dump(exclude_unset=True))
        if body.pipeline_id is not None and body.pipeline_id != ctx.deal.pipeline_id:
            await _require_move(session, guard, ctx, body.pipeline_id)
        result = await update_deal(session, _runtime(request).settings, ctx, body, origin=_origin(user))
        response.headers["ETag"] = f'"{ctx.deal.version}"'
    return {**result.state.model_dump(mode="json"), "warnings": result.warnings}


async def _require_move(session: AsyncSession, guard: Guard, ctx: DealContext, pipeline_id: uuid.UUID) -> None:
    """Moving a deal to another pipeline also takes the right to update deals there."""
    key = guard.pipeline_keys.get(pipeline_id)
    if key is None:
        return  # update_deal rejects the unknown pipeline with a 422 naming pipeline_id
    decision = guard.policy.check(
        guard.user, "deal", "update", ctx.deal, workgroup=ctx.deal.workgroup, pipeline_key=key
    )
    if not decision.allowed:
        raise PermissionDenied(
            f"you may not move deals into pipeline {key!r}: {decision.reason}",
            id=str(ctx.deal.id),
            status="restricted",
            reason=decision.reason,
            owner=await guard.owner_of(session, "deal", ctx.deal),
        )


@router.delete("/deals/{deal_id}", status_code=204)
async def remove_deal(request: Request, deal_id: uuid.UUID, user: CurrentUser, if_match: IfMatch = None) -> Response:
    """Mark a deal deleted; with ``If-Match`` only that version of it."""
    async with _session(request, user, write=True) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "delete")
        require_version("deal", ctx.deal, if_match)
        await delete_deal(session, _runtime(request).settings, ctx, origin=_origin(user))
    return Response(status_code=204)


@router.get("/deals/{deal_id}/card")
async def get_card(request: Request, deal_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return the deal's relationship card; linked records the user may not read are restricted references."""
    async with _session(request, user, write=False) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "read")
        return await views.relationship_card(session, guard, ctx)


@router.post("/deals/{deal_id}/comments", status_code=201)
async def post_comment(request: Request, deal_id: uuid.UUID, body: AddComment, user: CurrentUser) -> DealState:
    """Add an internal comment; it clears the task_result marker."""
    async with _session(request, user, write=True) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "update")
        return await add_comment(session, _runtime(request).settings, ctx, body, origin=_origin(user))


@router.get("/deals/{deal_id}/comments")
async def list_comments(request: Request, deal_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """List the deal's internal comments, oldest first."""
    async with _session(request, user, write=False) as (session, guard):
        await _deal_for(session, guard, deal_id, "read")
        rows = await session.scalars(
            select(DealComment).where(DealComment.deal_id == deal_id).order_by(DealComment.created_at)
        )
        return {
            "items": [
                {
                    "id": str(c.id),
                    "author_id": c.author_id,
                    "author_name": c.author_name,
                    "text": c.text,
                    "created_at": c.created_at.isoformat(),
                }
                for c in rows
            ]
        }


@router.get("/deals/{deal_id}/timeline")
async def get_timeline(request: Request, deal_id: uuid.UUID, user: CurrentUser) -> dict[str, Any]:
    """Return the deal's timeline, oldest first: stage history and every change with its cause."""
    async with _session(request, user, write=False) as (session, guard):
        await _deal_for(session, guard, deal_id, "read")
        rows = await session.scalars(
            select(TimelineEntry).where(TimelineEntry.deal_id == deal_id).order_by(TimelineEntry.at, TimelineEntry.id)
        )
        return {
            "items": [
                {
                    "id": str(e.id),
                    "at": e.at.isoformat(),
                    "kind": e.kind,
                    "cause": e.cause,
                    "data": e.data,
                    "link": e.link,
                }
                for e in rows
            ]
        }


@router.post("/deals/{deal_id}/markers/{kind}/snooze")
async def post_snooze(
    request: Request, deal_id: uuid.UUID, kind: MarkerKind, body: SnoozeMarker, user: CurrentUser
) -> DealState:
    """Hide a marker of the deal until a date, with a reason."""
    async with _session(request, user, write=True) as (session, guard):
        ctx = await _deal_for(session, guard, deal_id, "update")
        return await snooze_marker(session, _runtime(request).settings, ctx, kind, body, origin=_origin(user))
