"""Merging duplicate companies or contacts into one record, with a report of conflicting fields.

The target keeps its own values. Empty target fields take the source's value, list fields take the
union, and every other difference is reported as a conflict. Records linked to the source move to
the target, each with its own event. The source ends deleted.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.settings import ServiceSettings
from services.crm.clients import (
    COMPANIES,
    CONTACTS,
    LEGAL_ENTITIES,
    PROJECTS,
    RecordKind,
    bump_version,
    delete_record,
    sync_identities,
)
from services.crm.common import Origin, invalid
from services.crm.handlers import add_timeline, deal_context, save_change
from services.crm.tables import Contact, Deal, DealContact, LegalEntity, Project

LIST_FIELDS = frozenset({"phones", "emails", "email_domains"})
#: Access fields decide who may read the record, so the source never passes them to the target.
ACCESS_FIELDS = frozenset({"owner_id", "department", "workgroup"})


class MergeRecords(BaseModel):
    """Merge the record ``source_id`` into the record of the URL."""

    source_id: uuid.UUID


def merge_fields(kind: RecordKind, target: Any, source: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Copy the source's values into empty target fields and union list fields; return changes and conflicts."""
    changed: list[str] = []
    conflicts: list[dict[str, Any]] = []
    for name in kind.fields.model_fields:
        kept, other = getattr(target, name, None), getattr(source, name, None)
        if other in (None, "", []) or kept == other or name in ACCESS_FIELDS or name == "company_id":
            continue
        if name in LIST_FIELDS:
            setattr(target, name, list(dict.fromkeys([*(kept or []), *other])))
            changed.append(name)
        elif kept in (None, ""):
            setattr(target, name, other)
            changed.append(name)
        else:
            conflicts.append({"field": name, "kept": _plain(kept), "dropped": _plain(other)})
    return changed, conflicts


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def merge_companies(
    session: AsyncSession, settings: ServiceSettings, target: Any, source: Any, *, origin: Origin
) -> dict[str, Any]:
    """Merge company ``source`` into ``target``; its contacts, legal entities, projects and deals move."""
    _check_distinct(target, source)
    changed, conflicts = merge_fields(COMPANIES, target, source)
    await bump_version(session, settings, COMPANIES, target, origin)

    moved: dict[str, list[str]] = {"contacts": [], "legal_entities": [], "projects": [], "deals": []}
    linked: tuple[tuple[RecordKind, Any, str], ...] = (
        (CONTACTS, Contact, "contacts"),
        (LEGAL_ENTITIES, LegalEntity, "legal_entities"),
        (PROJECTS, Project, "projects"),
    )
    for kind, table, key in linked:
        for row in await session.scalars(select(table).where(table.company_id == source.id)):
            row.company_id = target.id
            await bump_version(session, settings, kind, row, origin)
            moved[key].append(str(row.id))
    for deal in await session.scalars(select(Deal).where(Deal.company_id == source.id).with_for_update()):
        deal.company_id = target.id
        await _save_merged_deal(
            session, settings, deal, field="company_id", source_id=source.id, target_id=target.id, origin=origin
        )
        moved["deals"].append(str(deal.id))

    await delete_record(session, settings, COMPANIES, source, origin)
    return {"id": str(target.id), "merged": str(source.id), "changed": changed, "conflicts": conflicts, "moved": moved}


async def merge_contacts(
    session: AsyncSession, settings: ServiceSettings, target: Any, source: Any, *, origin: Origin
) -> dict[str, Any]:
    """Merge contact ``source`` into ``target``; the deals that name the source name the target instead."""
    _check_distinct(target, source)
    changed, conflicts = merge_fields(CONTACTS, target, source)
    if target.company_id is None and source.company_id is not None:
        target.company_id = source.company_id
        changed.append("company_id")
    elif source.company_id not in (None, target.company_id):
        conflicts.append({"field": "company_id", "kept": _plain(target.company_id), "dropped": str(source.company_id)})
    await sync_identities(session, target)
    await bump_version(session, settings, CONTACTS, target, origin)

    moved: list[str] = []
    links = list(await session.scalars(select(DealContact).where(DealContact.contact_id == source.id)))
    for link in links:
        deal = await session.scalar(select(Deal).where(Deal.id == link.deal_id).with_for_update())
        if deal is None:
            continue
        already = await session.get(DealContact, (deal.id, target.id))
        await session.delete(link)
        if already is None:
            session.add(DealContact(deal_id=deal.id, contact_id=target.id, position=link.position))
        if deal.primary_contact_id == source.id:
            deal.primary_contact_id = target.id
        await session.flush()
        await _save_merged_deal(
            session, settings, deal, field="contact_ids", source_id=source.id, target_id=target.id, origin=origin
        )
        moved.append(str(deal.id))

    await delete_record(session, settings, CONTACTS, source, origin)
    return {
        "id": str(target.id),
        "merged": str(source.id),
        "changed": changed,
        "conflicts": conflicts,
        "moved": {"deals": moved},
    }


def _check_distinct(target: Any, source: Any) -> None:
    if target.id == source.id:
        raise invalid(("source_id", "a record cannot be merged into itself"))


async def _save_merged_deal(
    session: AsyncSession,
    settings: ServiceSettings,
    deal: Deal,
    *,
    field: str,
    source_id: uuid.UUID,
    target_id: uuid.UUID,
    origin: Origin,
) -> None:
    ctx = await deal_context(session, deal)
    add_timeline(session, deal.id, "merged", origin, {"field": field, "from": str(source_id), "to": str(target_id)})
    await save_change(session, settings, ctx, origin, [field], touched=False)
