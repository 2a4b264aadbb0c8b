"""Consistency of a deal's links: company, contacts, both legal entities and project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.crm.common import invalid
from services.crm.tables import Company, Contact, LegalEntity, Project

#: A warning in a response: the deal was saved, but something deserves a look.
Warning = dict[str, Any]


class Links(Protocol):
    company_id: uuid.UUID | None
    contact_ids: list[uuid.UUID]
    primary_contact_id: uuid.UUID | None
    client_legal_entity_id: uuid.UUID | None
    our_legal_entity_id: uuid.UUID | None
    project_id: uuid.UUID | None


@dataclass
class LinkCheck:
    contact_ids: list[uuid.UUID]
    primary_contact_id: uuid.UUID | None
    primary_contact: Contact | None
    warnings: list[Warning] = field(default_factory=list)


async def check_links(session: AsyncSession, links: Links) -> LinkCheck:
    """Reject links that break a rule (422 naming the fields) and warn about contacts of another company."""
    errors: list[tuple[str, str]] = []
    if links.company_id is not None:
        company = await session.get(Company, links.company_id)
        if company is None or company.deleted:
            errors.append(("company_id", f"company {links.company_id} {_missing(company)}"))
    errors += await _check_client_entity(session, links)
    errors += await _check_our_entity(session, links)

    warnings: list[Warning] = []
    if links.project_id is not None:
        project = await session.get(Project, links.project_id)
        if project is None or project.deleted:
            errors.append(("project_id", f"project {links.project_id} {_missing(project)}"))
        elif links.company_id is not None and project.company_id not in (None, links.company_id):
            warnings.append(_warning("project_id", "project_of_another_company", project.id, project.company_id))

    contact_ids = list(dict.fromkeys(links.contact_ids))
    if links.primary_contact_id is not None and links.primary_contact_id not in contact_ids:
        contact_ids.insert(0, links.primary_contact_id)
    contacts: dict[uuid.UUID, Contact] = {}
    for i, contact_id in enumerate(contact_ids):
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.deleted:
            errors.append((f"contact_ids.{i}", f"contact {contact_id} {_missing(contact)}"))
            continue
        contacts[contact_id] = contact
        if links.company_id is not None and contact.company_id != links.company_id:
            warnings.append(_warning("contact_ids", "contact_of_another_company", contact_id, contact.company_id))
    if errors:
        raise invalid(*errors)

    primary = links.primary_contact_id or (contact_ids[0] if contact_ids else None)
    return LinkCheck(contact_ids, primary, contacts.get(primary) if primary else None, warnings)


async def _check_client_entity(session: AsyncSession, links: Links) -> list[tuple[str, str]]:
    if links.client_legal_entity_id is None:
        return []
    entity = await session.get(LegalEntity, links.client_legal_entity_id)
    name = "client_legal_entity_id"
    if entity is None or entity.deleted:
        return [(name, f"legal entity {links.client_legal_entity_id} {_missing(entity)}")]
    if entity.is_own:
        return [(name, "this legal entity is one of our own; give it as our_legal_entity_id")]
    if links.company_id is None:
        reason = f"the deal has no company, but legal entity {entity.id} belongs to company {entity.company_id}"
        return [(name, reason), ("company_id", "must be set to the company of the client's legal entity")]
    if entity.company_id != links.company_id:
        return [
            (name, f"legal entity {entity.id} belongs to company {entity.company_id}, not to the deal's company"),
            ("company_id", f"company {links.company_id} has no legal entity {entity.id}"),
        ]
    return []


async def _check_our_entity(session: AsyncSession, links: Links) -> list[tuple[str, str]]:
    if links.our_legal_entity_id is None:
        return []
    entity = await session.get(LegalEntity, links.our_legal_entity_id)
    if entity is None or entity.deleted:
        return [("our_legal_entity_id", f"legal entity {links.our_legal_entity_id} {_missing(entity)}")]
    if not entity.is_own:
        return [("our_legal_entity_id", f"legal entity {entity.id} is a client's, not one of our own")]
    return []


def _missing(row: object | None) -> str:
    return "does not exist" if row is None else "was deleted"


def _warning(field_name: str, code: str, record_id: uuid.UUID, company_id: uuid.UUID | None) -> Warning:
    return {
        "field": field_name,
        "code": code,
        "id": str(record_id),
        "company_id": str(company_id) if company_id else None,
        "message": f"{record_id} belongs to {'company ' + str(company_id) if company_id else 'no company'}, "
        "not to the deal's company",
    }
